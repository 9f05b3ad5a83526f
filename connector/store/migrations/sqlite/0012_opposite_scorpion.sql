ALTER TABLE `catalog_datasets` ADD `titles` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `catalog_datasets` ADD `publishers` text DEFAULT '' NOT NULL;