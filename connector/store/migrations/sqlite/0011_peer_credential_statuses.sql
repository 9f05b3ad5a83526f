CREATE TABLE `peer_credential_statuses` (
	`key` text PRIMARY KEY NOT NULL,
	`participant_id` text NOT NULL,
	`credential` text NOT NULL,
	`issuer` text NOT NULL,
	`types` text NOT NULL,
	`status` text NOT NULL,
	`expires_at` integer,
	`verified_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `peer_credential_statuses_participant` ON `peer_credential_statuses` (`participant_id`);