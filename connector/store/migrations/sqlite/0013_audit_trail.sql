CREATE TABLE `audit_checkpoints` (
	`seq` integer PRIMARY KEY NOT NULL,
	`at` integer NOT NULL,
	`hash` text NOT NULL,
	`signature` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `audit_head` (
	`id` integer PRIMARY KEY NOT NULL,
	`seq` integer NOT NULL,
	`hash` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `audit_records` (
	`seq` integer PRIMARY KEY NOT NULL,
	`at` integer NOT NULL,
	`kind` text NOT NULL,
	`subjects` text NOT NULL,
	`agreement_id` text,
	`actor` text NOT NULL,
	`payload` text NOT NULL,
	`payload_digest` text NOT NULL,
	`prev_hash` text NOT NULL,
	`hash` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `audit_records_agreement` ON `audit_records` (`agreement_id`);--> statement-breakpoint
CREATE INDEX `audit_records_at` ON `audit_records` (`at`);--> statement-breakpoint
INSERT INTO `audit_head` (`id`, `seq`, `hash`) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');