ALTER TABLE `dispatches` ADD `lease_owner` text;--> statement-breakpoint
ALTER TABLE `dispatches` ADD `lease_token` text;--> statement-breakpoint
ALTER TABLE `dispatches` ADD `lease_until` integer;--> statement-breakpoint
ALTER TABLE `dispatches` ADD `retry_until` integer;