CREATE INDEX "negotiations_created" ON "negotiations" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "transfers_created" ON "transfers" USING btree ("created_at");