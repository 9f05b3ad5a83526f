ALTER TABLE "catalog_datasets" ADD COLUMN "titles" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "catalog_datasets" ADD COLUMN "publishers" text DEFAULT '' NOT NULL;