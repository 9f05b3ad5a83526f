CREATE TABLE "held_credentials" (
	"id" text PRIMARY KEY NOT NULL,
	"jwt" text NOT NULL,
	"types" json NOT NULL,
	"issuer" text NOT NULL,
	"subject" text NOT NULL,
	"expires_at" bigint,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "seen_tokens" (
	"key" text PRIMARY KEY NOT NULL,
	"expires_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "held_credentials_subject" ON "held_credentials" USING btree ("subject");--> statement-breakpoint
CREATE INDEX "seen_tokens_expires_at" ON "seen_tokens" USING btree ("expires_at");