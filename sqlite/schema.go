package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations bring the schema from version i (PRAGMA user_version) to i+1.
// Append to the list; never edit an entry that has shipped.
var migrations = []string{
	// 1: the journal (calls) and the outbox (texts).
	`
CREATE TABLE calls (
	id          INTEGER PRIMARY KEY,
	call_id     TEXT    NOT NULL UNIQUE,
	source      TEXT    NOT NULL,
	direction   TEXT    NOT NULL,
	outcome     TEXT    NOT NULL,
	caller_num  TEXT    NOT NULL,
	caller_name TEXT    NOT NULL,
	withheld    INTEGER NOT NULL,
	did         TEXT    NOT NULL,
	context     TEXT    NOT NULL,
	started     INTEGER,          -- NULL: the source did not say
	ended       INTEGER,
	rang        INTEGER NOT NULL, -- nanoseconds
	decided     INTEGER,
	caller      TEXT    NOT NULL, -- E.164, '' when there was none to text
	send        INTEGER NOT NULL,
	reason      TEXT    NOT NULL,
	detail      TEXT    NOT NULL,
	rule        TEXT    NOT NULL,
	recorded    INTEGER NOT NULL
) STRICT;
CREATE INDEX calls_recorded ON calls (recorded);

-- The state is checked in Go, not by a CHECK constraint: SQLite cannot alter
-- a constraint, and a new state (delivered, say) should be one more value
-- rather than a copy of the table.
CREATE TABLE texts (
	id           INTEGER PRIMARY KEY,
	call_id      TEXT    NOT NULL REFERENCES calls (call_id),
	rule         TEXT    NOT NULL,
	to_number    TEXT    NOT NULL,
	from_number  TEXT    NOT NULL,
	body         TEXT    NOT NULL,
	state        TEXT    NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	created      INTEGER NOT NULL,
	next_attempt INTEGER NOT NULL,
	attempted    INTEGER,          -- the last MarkSending
	done         INTEGER,          -- reached a final state
	sender       TEXT    NOT NULL DEFAULT '',
	provider_id  TEXT    NOT NULL DEFAULT '',
	last_error   TEXT    NOT NULL DEFAULT ''
) STRICT;
-- One text per call: a caller is never texted twice for one call, and
-- History joins a call to at most one text.
CREATE UNIQUE INDEX texts_call_id ON texts (call_id);
CREATE INDEX texts_to_number ON texts (to_number, created);
CREATE INDEX texts_state ON texts (state, next_attempt);
`,
	// 2: the opt-out list; the hourly caps count texts by rule and time.
	`
CREATE TABLE optouts (
	number  TEXT    PRIMARY KEY, -- E.164
	source  TEXT    NOT NULL,    -- where the request came from
	created INTEGER NOT NULL
) STRICT;
CREATE INDEX texts_rule_created ON texts (rule, created);
CREATE INDEX texts_created ON texts (created);
`,
	// 3: a text deferred to the end of the caller's quiet hours: the first
	// attempt's time, from which max_delay counts. NULL: at once.
	`
ALTER TABLE texts ADD COLUMN not_before INTEGER;
`,
	// 4: texts people sent us, and delivery reports on the texts we sent.
	`
CREATE TABLE inbound (
	id          INTEGER PRIMARY KEY,
	provider    TEXT    NOT NULL,
	provider_id TEXT    NOT NULL,
	from_number TEXT    NOT NULL,
	to_number   TEXT    NOT NULL,
	body        TEXT    NOT NULL,
	received    INTEGER NOT NULL,
	UNIQUE (provider, provider_id)
) STRICT;
CREATE INDEX inbound_from ON inbound (from_number, received);
ALTER TABLE texts ADD COLUMN delivery TEXT NOT NULL DEFAULT '';
ALTER TABLE texts ADD COLUMN delivery_detail TEXT NOT NULL DEFAULT '';
ALTER TABLE texts ADD COLUMN delivery_at INTEGER;
CREATE INDEX texts_provider_id ON texts (sender, provider_id);
`,
	// 5: the number an outbound call dialed, the other party of a call in
	// E.164 (what ConnectedSince matches), and a text held for a grace
	// delay: when its missed call was decided. NULL: no grace.
	`
ALTER TABLE calls ADD COLUMN dialed TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN party TEXT NOT NULL DEFAULT '';
CREATE INDEX calls_party ON calls (party, recorded);
ALTER TABLE texts ADD COLUMN grace INTEGER;
`,
	// 6: delivery reports that came before the sender's answer was written
	// down (a carrier calls back within milliseconds), held for the text.
	`
CREATE TABLE held_deliveries (
	provider    TEXT    NOT NULL,
	provider_id TEXT    NOT NULL,
	status      TEXT    NOT NULL,
	detail      TEXT    NOT NULL,
	at          INTEGER NOT NULL,
	received    INTEGER NOT NULL,
	PRIMARY KEY (provider, provider_id)
) STRICT;
CREATE INDEX held_deliveries_received ON held_deliveries (received);
`,
}

// migrate applies the migrations the database lacks, each in a transaction
// with its version, so a crash leaves the schema at one version or the next.
func migrate(ctx context.Context, db *sql.DB) error {
	// Most opens find the schema current: say so without the write lock,
	// which another process (the daemon, a backup) may hold for a while.
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if v == len(migrations) {
		return nil
	}
	for {
		done, err := migrateOne(ctx, db)
		if err != nil || done {
			return err
		}
	}
}

func migrateOne(ctx context.Context, db *sql.DB) (done bool, err error) {
	// The version is read inside the (immediate) transaction, so two
	// processes opening a new file at once don't both apply a migration.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	switch {
	case v > len(migrations):
		return false, fmt.Errorf("schema version %d is newer than this textback knows (%d)", v, len(migrations))
	case v == len(migrations):
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
		return false, fmt.Errorf("migrate to version %d: %w", v+1, err)
	}
	// PRAGMA takes no parameters; v+1 is our own integer.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
		return false, fmt.Errorf("migrate to version %d: %w", v+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate to version %d: %w", v+1, err)
	}
	return false, nil
}
