-- The search index of the federated catalog moves to a narrow table of its own (custom migration:
-- drizzle-kit does not generate tsvector columns or triggers), the counterpart of SQLite's FTS5
-- table. A search reads the tsvector of every match to rank it; in federated_datasets that meant
-- reading rows of ~1.8 kB (4 per page, the stored hit and the source text included). Here a row
-- holds the key, the tsvector and the filter columns (~0.65 kB), so a ranked scan reads a third of
-- the pages and the whole index stays in shared buffers. Statement triggers keep it in step with
-- federated_datasets, one INSERT ... SELECT per inserted batch.
DROP INDEX "federated_datasets_search_idx";
--> statement-breakpoint
ALTER TABLE "federated_datasets" DROP COLUMN "search";
--> statement-breakpoint
CREATE TABLE "federated_datasets_search" (
	"peer_id" text NOT NULL,
	"dataset_id" text NOT NULL,
	"search" tsvector NOT NULL,
	"themes" text NOT NULL,
	"formats" text NOT NULL,
	"actions" text NOT NULL,
	"license" text,
	"spatial" text,
	"temporal_start" bigint,
	"temporal_end" bigint,
	"modified_at" bigint,
	PRIMARY KEY ("peer_id", "dataset_id")
);
--> statement-breakpoint
CREATE INDEX "federated_datasets_search_idx" ON "federated_datasets_search" USING gin ("search");
--> statement-breakpoint
-- Searches without words list the most recently modified first.
CREATE INDEX "federated_datasets_search_modified_idx" ON "federated_datasets_search" ("modified_at" DESC NULLS LAST, "peer_id", "dataset_id");
--> statement-breakpoint
-- The 'simple' configuration: text is already folded by the connector (lower case, no diacritics)
-- and catalogs mix languages, so no language-specific stemming. Weights: title A, keywords B,
-- description C.
CREATE FUNCTION "federated_datasets_search_sync"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		TRUNCATE "federated_datasets_search";
		RETURN NULL;
	END IF;
	IF TG_OP IN ('DELETE', 'UPDATE') THEN
		DELETE FROM "federated_datasets_search" s USING old_rows o WHERE s.peer_id = o.peer_id AND s.dataset_id = o.dataset_id;
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') THEN
		INSERT INTO "federated_datasets_search" (peer_id, dataset_id, search, themes, formats, actions, license, spatial, temporal_start, temporal_end, modified_at)
		SELECT n.peer_id, n.dataset_id,
			setweight(to_tsvector('simple', n.search_title), 'A') ||
			setweight(to_tsvector('simple', n.search_keywords), 'B') ||
			setweight(to_tsvector('simple', n.search_description), 'C'),
			n.themes, n.formats, n.actions, n.license, n.spatial, n.temporal_start, n.temporal_end, n.modified_at
		FROM new_rows n;
	END IF;
	RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "federated_datasets_search_insert" AFTER INSERT ON "federated_datasets"
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "federated_datasets_search_sync"();
--> statement-breakpoint
CREATE TRIGGER "federated_datasets_search_update" AFTER UPDATE ON "federated_datasets"
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "federated_datasets_search_sync"();
--> statement-breakpoint
CREATE TRIGGER "federated_datasets_search_delete" AFTER DELETE ON "federated_datasets"
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION "federated_datasets_search_sync"();
--> statement-breakpoint
CREATE TRIGGER "federated_datasets_search_truncate" AFTER TRUNCATE ON "federated_datasets"
	FOR EACH STATEMENT EXECUTE FUNCTION "federated_datasets_search_sync"();
--> statement-breakpoint
-- Entries already crawled.
INSERT INTO "federated_datasets_search" (peer_id, dataset_id, search, themes, formats, actions, license, spatial, temporal_start, temporal_end, modified_at)
SELECT peer_id, dataset_id,
	setweight(to_tsvector('simple', search_title), 'A') ||
	setweight(to_tsvector('simple', search_keywords), 'B') ||
	setweight(to_tsvector('simple', search_description), 'C'),
	themes, formats, actions, license, spatial, temporal_start, temporal_end, modified_at
FROM "federated_datasets";
