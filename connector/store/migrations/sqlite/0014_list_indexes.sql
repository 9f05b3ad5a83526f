CREATE INDEX `negotiations_created` ON `negotiations` (`created_at`);--> statement-breakpoint
CREATE INDEX `transfers_created` ON `transfers` (`created_at`);