-- Full-text search of the federated catalog (custom migration: drizzle-kit does not generate
-- tsvector columns). The 'simple' configuration: text is already folded by the connector (lower
-- case, no diacritics) and catalogs mix languages, so no language-specific stemming.
ALTER TABLE "federated_datasets" ADD COLUMN "search" tsvector GENERATED ALWAYS AS (
	setweight(to_tsvector('simple', "search_title"), 'A') ||
	setweight(to_tsvector('simple', "search_keywords"), 'B') ||
	setweight(to_tsvector('simple', "search_description"), 'C')
) STORED;
--> statement-breakpoint
CREATE INDEX "federated_datasets_search_idx" ON "federated_datasets" USING gin ("search");
