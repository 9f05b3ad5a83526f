CREATE TABLE `agreement_obligations` (
	`agreement_id` text NOT NULL,
	`obligation_id` text NOT NULL,
	`action` text NOT NULL,
	`rule` text NOT NULL,
	`text` text NOT NULL,
	`constraints` text NOT NULL,
	`checked_by` text NOT NULL,
	`status` text NOT NULL,
	`reason` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`agreement_id`, `obligation_id`)
);
--> statement-breakpoint
CREATE INDEX `agreement_obligations_status` ON `agreement_obligations` (`status`);--> statement-breakpoint
CREATE TABLE `agreement_usage` (
	`agreement_id` text PRIMARY KEY NOT NULL,
	`access_count` integer NOT NULL,
	`obligations_recorded` integer DEFAULT false NOT NULL,
	`violated_obligations` text DEFAULT '[]' NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `obligation_events` (
	`id` text PRIMARY KEY NOT NULL,
	`agreement_id` text NOT NULL,
	`obligation_id` text NOT NULL,
	`at` integer NOT NULL,
	`from_status` text,
	`to_status` text NOT NULL,
	`actor` text NOT NULL,
	`reason` text
);
--> statement-breakpoint
CREATE INDEX `obligation_events_agreement` ON `obligation_events` (`agreement_id`,`at`);--> statement-breakpoint
ALTER TABLE `data_accesses` ADD `counted` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `transfers` ADD `bytes_granted` integer DEFAULT 0 NOT NULL;
--> statement-breakpoint
-- Usage counts move from each transfer to its agreement: carry over what providers counted so far.
INSERT INTO `agreement_usage` (`agreement_id`, `access_count`, `updated_at`) SELECT `agreement_id`, SUM(`access_count`), MAX(`updated_at`) FROM `transfers` WHERE `role` = 'provider' GROUP BY `agreement_id`;

