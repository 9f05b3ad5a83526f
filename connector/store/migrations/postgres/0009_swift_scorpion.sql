ALTER TABLE "dispatches" ADD COLUMN "kind" text DEFAULT 'message' NOT NULL;--> statement-breakpoint
ALTER TABLE "transfer_events" ADD COLUMN "digest" text;