CREATE TABLE `agreements` (
	`id` text PRIMARY KEY NOT NULL,
	`negotiation_id` text NOT NULL,
	`role` text NOT NULL,
	`dataset_id` text NOT NULL,
	`assigner` text NOT NULL,
	`assignee` text NOT NULL,
	`body` text NOT NULL,
	`signed_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `agreements_negotiation` ON `agreements` (`negotiation_id`);--> statement-breakpoint
CREATE INDEX `agreements_dataset` ON `agreements` (`dataset_id`);--> statement-breakpoint
CREATE TABLE `dispatches` (
	`id` text PRIMARY KEY NOT NULL,
	`topic` text NOT NULL,
	`process_id` text NOT NULL,
	`url` text NOT NULL,
	`body` text NOT NULL,
	`peer_id` text,
	`peer_address` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer NOT NULL,
	`max_attempts` integer NOT NULL,
	`next_attempt_at` integer NOT NULL,
	`last_error` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `dispatches_status_next` ON `dispatches` (`status`,`next_attempt_at`);--> statement-breakpoint
CREATE INDEX `dispatches_process` ON `dispatches` (`process_id`);--> statement-breakpoint
CREATE TABLE `negotiation_events` (
	`negotiation_id` text NOT NULL,
	`seq` integer NOT NULL,
	`at` integer NOT NULL,
	`kind` text NOT NULL,
	`direction` text NOT NULL,
	`actor` text NOT NULL,
	`from_state` text,
	`to_state` text NOT NULL,
	`reason` text,
	`detail` text,
	PRIMARY KEY(`negotiation_id`, `seq`)
);
--> statement-breakpoint
CREATE TABLE `negotiations` (
	`id` text PRIMARY KEY NOT NULL,
	`role` text NOT NULL,
	`provider_pid` text,
	`consumer_pid` text,
	`state` text NOT NULL,
	`counterparty_id` text,
	`counterparty_address` text NOT NULL,
	`dataset_id` text NOT NULL,
	`offer_id` text NOT NULL,
	`offer` text NOT NULL,
	`agreement_id` text,
	`mode` text NOT NULL,
	`pending` text,
	`reason` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`version` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `negotiations_role_consumer_pid` ON `negotiations` (`role`,`counterparty_id`,`consumer_pid`);--> statement-breakpoint
CREATE INDEX `negotiations_state` ON `negotiations` (`state`);--> statement-breakpoint
CREATE INDEX `negotiations_dataset` ON `negotiations` (`dataset_id`);