-- Schema version 4: no index on records.body_key. The enroll writer keeps
-- every body key in memory with the sequence number of its first record and
-- confirms a possible duplicate through the primary key; the random-order
-- index cost about a tenth of every bulk insert and its pages were
-- rewritten by every commit.
DROP INDEX records_by_body_key;
