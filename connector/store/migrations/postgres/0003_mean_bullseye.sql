CREATE TABLE "catalog_datasets" (
	"id" text PRIMARY KEY NOT NULL,
	"description" json NOT NULL,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
