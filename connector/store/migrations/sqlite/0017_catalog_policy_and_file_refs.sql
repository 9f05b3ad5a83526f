-- Policy and file references per dataset get tables of their own, filled here from the rows already stored.
CREATE TABLE `catalog_file_refs` (
	`dataset_id` text NOT NULL,
	`path` text NOT NULL,
	PRIMARY KEY(`dataset_id`, `path`)
);
--> statement-breakpoint
CREATE INDEX `catalog_file_refs_path` ON `catalog_file_refs` (`path`);--> statement-breakpoint
CREATE TABLE `catalog_policy_counts` (
	`policy_id` text PRIMARY KEY NOT NULL,
	`count` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `catalog_policy_refs` (
	`dataset_id` text NOT NULL,
	`policy_id` text NOT NULL,
	PRIMARY KEY(`dataset_id`, `policy_id`)
);
--> statement-breakpoint
CREATE INDEX `catalog_policy_refs_policy` ON `catalog_policy_refs` (`policy_id`,`dataset_id`);--> statement-breakpoint
INSERT OR IGNORE INTO `catalog_policy_refs` (`dataset_id`, `policy_id`)
WITH RECURSIVE `split` (`dataset_id`, `rest`, `policy_id`) AS (
	SELECT `id`, `policy_refs` || char(10), NULL FROM `catalog_datasets` WHERE `policy_refs` <> ''
	UNION ALL
	SELECT `dataset_id`, substr(`rest`, instr(`rest`, char(10)) + 1), substr(`rest`, 1, instr(`rest`, char(10)) - 1) FROM `split` WHERE `rest` <> ''
)
SELECT `dataset_id`, `policy_id` FROM `split` WHERE `policy_id` <> '';--> statement-breakpoint
INSERT OR IGNORE INTO `catalog_file_refs` (`dataset_id`, `path`)
SELECT `id`, rtrim(CASE WHEN `path` LIKE './%' THEN substr(`path`, 3) ELSE `path` END, '/') FROM (
	SELECT `c`.`id` AS `id`, coalesce(json_extract(`d`.`value`, '$.file'), json_extract(`d`.`value`, '$.folder')) AS `path`
	FROM `catalog_datasets` AS `c`, json_each(`c`.`description`, '$.distributions') AS `d`
)
WHERE `path` IS NOT NULL;--> statement-breakpoint
INSERT INTO `catalog_policy_counts` (`policy_id`, `count`) SELECT `policy_id`, count(*) FROM `catalog_policy_refs` GROUP BY `policy_id`;--> statement-breakpoint
ALTER TABLE `catalog_datasets` DROP COLUMN `policy_refs`;