CREATE TABLE "catalog_departures" (
	"seq" bigint NOT NULL,
	"id" text NOT NULL,
	"visibility" text NOT NULL,
	"gate" json,
	"left_at" bigint NOT NULL,
	CONSTRAINT "catalog_departures_seq_id_pk" PRIMARY KEY("seq","id")
);
--> statement-breakpoint
ALTER TABLE "federation_peers" ADD COLUMN "change_token" text;--> statement-breakpoint
ALTER TABLE "federation_peers" ADD COLUMN "change_feed_note" text;--> statement-breakpoint
CREATE INDEX "catalog_departures_left_at" ON "catalog_departures" USING btree ("left_at");