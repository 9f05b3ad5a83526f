-- Policy and file references per dataset get tables of their own, filled here from the rows already stored.
CREATE TABLE "catalog_file_refs" (
	"dataset_id" text NOT NULL,
	"path" text NOT NULL,
	CONSTRAINT "catalog_file_refs_dataset_id_path_pk" PRIMARY KEY("dataset_id","path")
);
--> statement-breakpoint
CREATE TABLE "catalog_policy_counts" (
	"policy_id" text PRIMARY KEY NOT NULL,
	"count" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "catalog_policy_refs" (
	"dataset_id" text NOT NULL,
	"policy_id" text NOT NULL,
	CONSTRAINT "catalog_policy_refs_dataset_id_policy_id_pk" PRIMARY KEY("dataset_id","policy_id")
);
--> statement-breakpoint
CREATE INDEX "catalog_file_refs_path" ON "catalog_file_refs" USING btree ("path");--> statement-breakpoint
CREATE INDEX "catalog_policy_refs_policy" ON "catalog_policy_refs" USING btree ("policy_id","dataset_id");--> statement-breakpoint
INSERT INTO "catalog_policy_refs" ("dataset_id", "policy_id")
SELECT DISTINCT "id", "policy_id" FROM "catalog_datasets", unnest(string_to_array("policy_refs", E'\n')) AS "policy_id"
WHERE "policy_refs" <> '' AND "policy_id" <> ''
ON CONFLICT DO NOTHING;--> statement-breakpoint
INSERT INTO "catalog_file_refs" ("dataset_id", "path")
SELECT DISTINCT "id", rtrim(CASE WHEN "path" LIKE './%' THEN substr("path", 3) ELSE "path" END, '/') FROM (
	SELECT "id", coalesce("d"->>'file', "d"->>'folder') AS "path"
	FROM "catalog_datasets", json_array_elements("description"->'distributions') AS "d"
) AS "p"
WHERE "path" IS NOT NULL
ON CONFLICT DO NOTHING;--> statement-breakpoint
INSERT INTO "catalog_policy_counts" ("policy_id", "count") SELECT "policy_id", count(*) FROM "catalog_policy_refs" GROUP BY "policy_id";--> statement-breakpoint
ALTER TABLE "catalog_datasets" DROP COLUMN "policy_refs";