-- Full-text index of the federated catalog (custom migration: drizzle-kit does not generate FTS5).
-- An external-content FTS5 table over the folded text columns of federated_datasets, keyed by the
-- row's rowid and kept in step by triggers. Text is folded by the connector before it is stored.
CREATE VIRTUAL TABLE `federated_datasets_fts` USING fts5(
	search_title, search_keywords, search_description,
	content='federated_datasets', content_rowid='rowid',
	tokenize='unicode61 remove_diacritics 2', prefix='2 3'
);
--> statement-breakpoint
CREATE TRIGGER `federated_datasets_fts_insert` AFTER INSERT ON `federated_datasets` BEGIN
	INSERT INTO federated_datasets_fts(rowid, search_title, search_keywords, search_description)
	VALUES (new.rowid, new.search_title, new.search_keywords, new.search_description);
END;
--> statement-breakpoint
CREATE TRIGGER `federated_datasets_fts_delete` AFTER DELETE ON `federated_datasets` BEGIN
	INSERT INTO federated_datasets_fts(federated_datasets_fts, rowid, search_title, search_keywords, search_description)
	VALUES ('delete', old.rowid, old.search_title, old.search_keywords, old.search_description);
END;
--> statement-breakpoint
CREATE TRIGGER `federated_datasets_fts_update` AFTER UPDATE ON `federated_datasets` BEGIN
	INSERT INTO federated_datasets_fts(federated_datasets_fts, rowid, search_title, search_keywords, search_description)
	VALUES ('delete', old.rowid, old.search_title, old.search_keywords, old.search_description);
	INSERT INTO federated_datasets_fts(rowid, search_title, search_keywords, search_description)
	VALUES (new.rowid, new.search_title, new.search_keywords, new.search_description);
END;
