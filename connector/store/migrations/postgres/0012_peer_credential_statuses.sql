CREATE TABLE "peer_credential_statuses" (
	"key" text PRIMARY KEY NOT NULL,
	"participant_id" text NOT NULL,
	"credential" text NOT NULL,
	"issuer" text NOT NULL,
	"types" json NOT NULL,
	"status" json NOT NULL,
	"expires_at" bigint,
	"verified_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "peer_credential_statuses_participant" ON "peer_credential_statuses" USING btree ("participant_id");