ALTER TABLE "dispatches" ADD COLUMN "lease_owner" text;--> statement-breakpoint
ALTER TABLE "dispatches" ADD COLUMN "lease_token" text;--> statement-breakpoint
ALTER TABLE "dispatches" ADD COLUMN "lease_until" bigint;--> statement-breakpoint
ALTER TABLE "dispatches" ADD COLUMN "retry_until" bigint;