CREATE TABLE "data_accesses" (
	"id" text PRIMARY KEY NOT NULL,
	"transfer_id" text NOT NULL,
	"at" bigint NOT NULL,
	"requester" text,
	"range" text,
	"status" integer NOT NULL,
	"bytes" bigint NOT NULL,
	"reason" text
);
--> statement-breakpoint
CREATE TABLE "transfer_events" (
	"id" text PRIMARY KEY NOT NULL,
	"transfer_id" text NOT NULL,
	"at" bigint NOT NULL,
	"from_state" text,
	"to_state" text NOT NULL,
	"cause" text NOT NULL,
	"actor" text NOT NULL,
	"reason" text
);
--> statement-breakpoint
CREATE TABLE "transfers" (
	"id" text PRIMARY KEY NOT NULL,
	"role" text NOT NULL,
	"provider_pid" text,
	"consumer_pid" text NOT NULL,
	"agreement_id" text NOT NULL,
	"dataset_id" text,
	"counterparty_id" text NOT NULL,
	"counterparty_address" text NOT NULL,
	"format" text NOT NULL,
	"state" text NOT NULL,
	"data_address" json,
	"output_path" text,
	"size" bigint,
	"sha256" text,
	"bytes_moved" bigint NOT NULL,
	"access_count" integer NOT NULL,
	"reason" text,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "data_accesses_transfer" ON "data_accesses" USING btree ("transfer_id","at");--> statement-breakpoint
CREATE INDEX "transfer_events_transfer" ON "transfer_events" USING btree ("transfer_id","at");--> statement-breakpoint
CREATE UNIQUE INDEX "transfers_role_consumer_pid" ON "transfers" USING btree ("role","consumer_pid");--> statement-breakpoint
CREATE INDEX "transfers_provider_pid" ON "transfers" USING btree ("provider_pid");--> statement-breakpoint
CREATE INDEX "transfers_state" ON "transfers" USING btree ("state");