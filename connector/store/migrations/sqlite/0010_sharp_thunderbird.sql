CREATE TABLE `catalog_groups` (
	`visibility` text PRIMARY KEY NOT NULL,
	`gate` text,
	`count` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `catalog_state` (
	`id` text PRIMARY KEY NOT NULL,
	`version` integer NOT NULL,
	`policies` text NOT NULL
);
--> statement-breakpoint
ALTER TABLE `catalog_datasets` ADD `source` text DEFAULT 'api' NOT NULL;--> statement-breakpoint
ALTER TABLE `catalog_datasets` ADD `file` text;--> statement-breakpoint
ALTER TABLE `catalog_datasets` ADD `published` integer DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE `catalog_datasets` ADD `visibility` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `catalog_datasets` ADD `gate` text;--> statement-breakpoint
ALTER TABLE `catalog_datasets` ADD `search` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `catalog_datasets` ADD `keywords` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `catalog_datasets` ADD `themes` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `catalog_datasets` ADD `modified` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `catalog_datasets` ADD `policy_refs` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `catalog_datasets` ADD `seq` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `catalog_datasets_seq` ON `catalog_datasets` (`seq`);--> statement-breakpoint
CREATE INDEX `catalog_datasets_file` ON `catalog_datasets` (`source`,`file`);--> statement-breakpoint
ALTER TABLE `federation_peers` ADD `catalog_etag` text;