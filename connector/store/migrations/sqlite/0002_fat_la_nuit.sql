CREATE TABLE `held_credentials` (
	`id` text PRIMARY KEY NOT NULL,
	`jwt` text NOT NULL,
	`types` text NOT NULL,
	`issuer` text NOT NULL,
	`subject` text NOT NULL,
	`expires_at` integer,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `held_credentials_subject` ON `held_credentials` (`subject`);--> statement-breakpoint
CREATE TABLE `seen_tokens` (
	`key` text PRIMARY KEY NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `seen_tokens_expires_at` ON `seen_tokens` (`expires_at`);