ALTER TABLE `dispatches` ADD `kind` text DEFAULT 'message' NOT NULL;--> statement-breakpoint
ALTER TABLE `transfer_events` ADD `digest` text;