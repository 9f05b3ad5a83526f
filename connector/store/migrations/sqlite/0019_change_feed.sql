CREATE TABLE `catalog_departures` (
	`seq` integer NOT NULL,
	`id` text NOT NULL,
	`visibility` text NOT NULL,
	`gate` text,
	`left_at` integer NOT NULL,
	PRIMARY KEY(`seq`, `id`)
);
--> statement-breakpoint
CREATE INDEX `catalog_departures_left_at` ON `catalog_departures` (`left_at`);--> statement-breakpoint
ALTER TABLE `federation_peers` ADD `change_token` text;--> statement-breakpoint
ALTER TABLE `federation_peers` ADD `change_feed_note` text;