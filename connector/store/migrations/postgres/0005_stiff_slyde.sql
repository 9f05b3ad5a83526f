CREATE TABLE "federated_datasets" (
	"peer_id" text NOT NULL,
	"dataset_id" text NOT NULL,
	"search_title" text NOT NULL,
	"search_keywords" text NOT NULL,
	"search_description" text NOT NULL,
	"themes" text NOT NULL,
	"formats" text NOT NULL,
	"actions" text NOT NULL,
	"license" text,
	"spatial" text,
	"temporal_start" bigint,
	"temporal_end" bigint,
	"modified_at" bigint,
	"entry" json NOT NULL,
	"crawled_at" bigint NOT NULL,
	CONSTRAINT "federated_datasets_peer_id_dataset_id_pk" PRIMARY KEY("peer_id","dataset_id")
);
--> statement-breakpoint
CREATE TABLE "federation_peers" (
	"id" text PRIMARY KEY NOT NULL,
	"dsp_url" text NOT NULL,
	"did" text,
	"name" text,
	"source" text NOT NULL,
	"paused" boolean NOT NULL,
	"added_at" bigint NOT NULL,
	"last_attempt_at" bigint,
	"last_success_at" bigint,
	"last_error_at" bigint,
	"last_error" text,
	"failures" integer NOT NULL,
	"next_crawl_at" bigint NOT NULL,
	"last_duration_ms" integer,
	"dataset_count" integer NOT NULL,
	"rejected_count" integer NOT NULL,
	"participant_id" text,
	"incremental" text NOT NULL,
	"crawls_since_full" integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX "federated_datasets_modified_idx" ON "federated_datasets" USING btree ("modified_at");--> statement-breakpoint
CREATE UNIQUE INDEX "federation_peers_dsp_url_idx" ON "federation_peers" USING btree ("dsp_url");