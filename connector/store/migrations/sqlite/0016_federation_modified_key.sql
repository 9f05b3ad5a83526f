-- Searches without words page by (modified_at, key) from the index, even when many datasets share one date.
DROP INDEX `federated_datasets_modified_idx`;--> statement-breakpoint
CREATE INDEX `federated_datasets_modified_key_idx` ON `federated_datasets` (`modified_at`,`peer_id`,`dataset_id`);