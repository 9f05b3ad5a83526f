CREATE TABLE "catalog_groups" (
	"visibility" text PRIMARY KEY NOT NULL,
	"gate" json,
	"count" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "catalog_state" (
	"id" text PRIMARY KEY NOT NULL,
	"version" bigint NOT NULL,
	"policies" text NOT NULL
);
--> statement-breakpoint
ALTER TABLE "catalog_datasets" ADD COLUMN "source" text DEFAULT 'api' NOT NULL;--> statement-breakpoint
ALTER TABLE "catalog_datasets" ADD COLUMN "file" text;--> statement-breakpoint
ALTER TABLE "catalog_datasets" ADD COLUMN "published" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "catalog_datasets" ADD COLUMN "visibility" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "catalog_datasets" ADD COLUMN "gate" json;--> statement-breakpoint
ALTER TABLE "catalog_datasets" ADD COLUMN "search" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "catalog_datasets" ADD COLUMN "keywords" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "catalog_datasets" ADD COLUMN "themes" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "catalog_datasets" ADD COLUMN "modified" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "catalog_datasets" ADD COLUMN "policy_refs" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "catalog_datasets" ADD COLUMN "seq" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "federation_peers" ADD COLUMN "catalog_etag" text;--> statement-breakpoint
CREATE INDEX "catalog_datasets_seq" ON "catalog_datasets" USING btree ("seq");--> statement-breakpoint
CREATE INDEX "catalog_datasets_file" ON "catalog_datasets" USING btree ("source","file");