"""Leaving pg_attver out of a restore script: only from statements that set column options, never from data.

These feed scripts to the filter alone, in every chunk size (a chunk may end
anywhere: inside a quote, a tag, a COPY terminator); the real scripts of
pg_dump and pg_restore, run into real servers of every major, are in
test_version_matrix.py.
"""

import pytest

from backups_app.services.postgres.column_options import ColumnOptions, leave_out, note

SET = b"ALTER TABLE ONLY public.t ALTER COLUMN a SET (pg_attver=35373824);\n"
MERGED = b"ALTER TABLE ONLY public.t ALTER COLUMN b SET (pg_attver=35373824, n_distinct=5);\n"
MERGED_KEPT = b"ALTER TABLE ONLY public.t ALTER COLUMN b SET (n_distinct=5);\n"


def in_chunks(script: bytes, size: int) -> tuple[bytes, int]:
    f = ColumnOptions()
    out = [f.feed(script[i:i + size]) for i in range(0, len(script), size)]
    out.append(f.feed(b"", end=True))
    return b"".join(out), f.columns


def filtered(script: bytes) -> tuple[bytes, int]:
    """The script filtered whole, checked to come out the same in chunks of every small size and a few large ones."""
    whole = leave_out(script)
    for size in [*range(1, 12), 64, 4096]:
        assert in_chunks(script, size) == whole, size
    return whole


def test_the_option_is_left_out_and_a_statement_left_with_none_goes_whole():
    script = b"CREATE TABLE public.t (\n    a integer,\n    b text\n);\n" + SET + MERGED + b"\n\n"
    out, changed = filtered(script)
    assert out == b"CREATE TABLE public.t (\n    a integer,\n    b text\n);\n" + MERGED_KEPT + b"\n\n"
    assert changed == 2


def test_real_options_alone_pass_unchanged():
    script = (b"ALTER TABLE ONLY public.t ALTER COLUMN b SET (n_distinct=5);\n"
              b"ALTER TABLE ONLY public.p ALTER COLUMN k SET (n_distinct_inherited=-0.5, n_distinct=3);\n")
    assert filtered(script) == (script, 0)


@pytest.mark.parametrize("statement,expected", [
    (b'ALTER TABLE ONLY "My Schema"."odd; ""name""" ALTER COLUMN "a;b" SET (pg_attver=1, n_distinct=2);',
     b'ALTER TABLE ONLY "My Schema"."odd; ""name""" ALTER COLUMN "a;b" SET (n_distinct=2);'),
    (b'ALTER TABLE ONLY public."line\nbreak" ALTER COLUMN x SET (pg_attver=1);', b""),
    (b"ALTER FOREIGN TABLE ONLY public.f ALTER COLUMN x SET (n_distinct=-1, pg_attver=7);",
     b"ALTER FOREIGN TABLE ONLY public.f ALTER COLUMN x SET (n_distinct=-1);"),
    (b"alter table t alter column x set (PG_ATTVER = 1);", b""),
])
def test_every_spelling_of_a_name_is_followed(statement, expected):
    assert filtered(statement + b"\n") == (expected + b"\n" if expected else b"", 1)


def test_copy_data_passes_untouched_whatever_its_rows_hold():
    rows = (b"1\t" + SET.rstrip(b"\n") + b"\n"
            b"2\tx\\n\\\\.\\n" + MERGED.rstrip(b"\n") + b"\n"  # a value with line breaks and a backslash-dot line
            b"3\t\\\\.\n"  # the value \. itself
            b"4\tit's; \"quoted\" $$ /* -- \\\\\n")
    script = b"COPY public.notes (id, line) FROM stdin;\n" + rows + b"\\.\n" + SET
    assert filtered(script) == (b"COPY public.notes (id, line) FROM stdin;\n" + rows + b"\\.\n", 1)


def test_a_table_without_rows_ends_its_copy_at_once_and_statements_go_on_after_it():
    script = b"COPY public.empty (a) FROM stdin;\n\\.\n" + SET + b"COPY x FROM stdin;\r\n" + SET + b"\\.\r\n" + SET
    out, changed = filtered(script)
    assert out == b"COPY public.empty (a) FROM stdin;\n\\.\nCOPY x FROM stdin;\r\n" + SET + b"\\.\r\n"
    assert changed == 2


def test_a_copy_that_reads_a_file_has_no_rows_in_the_script():
    script = b"COPY t FROM '/tmp/rows';\n" + SET
    assert filtered(script) == (b"COPY t FROM '/tmp/rows';\n", 1)


@pytest.mark.parametrize("around", [
    b"CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $body$SELECT '%s'$body$;\n",
    b"CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$BEGIN EXECUTE '%s'; END$$;\n",
    b"COMMENT ON TABLE t IS '%s';\n",
    b"COMMENT ON TABLE t IS E'it\\'s\\n%s';\n",
    b"SELECT 'it''s\n%s';\n",
    b'CREATE TABLE "\n%s" (a int);\n',
    b"/* a comment\n%s\n/* nested */ still a comment */\n",
    b"-- %s\n",
])
def test_text_that_reads_the_same_inside_strings_bodies_names_and_comments_is_kept(around):
    script = around.replace(b"%s", SET.rstrip(b"\n").replace(b"'", b"''") if b"'%s'" in around else SET)
    assert filtered(script) == (script, 0)


def test_a_rule_with_several_actions_is_one_statement_as_psql_reads_it():
    rule = (b"CREATE RULE r AS ON INSERT TO t DO ( INSERT INTO u VALUES (1); "
            b"SELECT 'ALTER TABLE ONLY x ALTER COLUMN a SET (pg_attver=1);'; );\n")
    assert filtered(rule + SET) == (rule, 1)


def test_a_function_body_of_sql_statements_is_one_statement_as_psql_reads_it():
    body = (b"CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n SELECT 1;\n SELECT CASE WHEN true "
            b"THEN 1 END;\nEND;\n")
    assert filtered(body + SET) == (body, 1)


def test_backslash_escapes_count_when_strings_are_not_standard():
    # With standard_conforming_strings off, \' does not end a string: the statement inside it is text.
    script = (b"SET standard_conforming_strings = off;\nSELECT 'a\\' " + SET.rstrip(b"\n") + b" ';\n"
              b"SET standard_conforming_strings = on;\nSELECT 'a\\';\n" + SET)
    out, changed = filtered(script)
    assert changed == 1 and out == script[:-len(SET)]


def test_psql_commands_pass_and_copy_from_stdin_reads_its_rows_from_the_script():
    script = (b"\\restrict abc123\n" + SET + b"\\copy t from stdin\n" + SET + b"\\.\n\\unrestrict abc123\n")
    out, changed = filtered(script)
    assert out == b"\\restrict abc123\n\\copy t from stdin\n" + SET + b"\\.\n\\unrestrict abc123\n"
    assert changed == 1


def test_a_statement_longer_than_any_that_sets_options_passes_as_it_comes():
    long = b"INSERT INTO t VALUES ('" + b"x" * 200_000 + b"');\n"
    f = ColumnOptions()
    first = f.feed(long[:150_000])
    assert len(first) >= 150_000 - 1024  # not held back whole
    assert first + f.feed(long[150_000:] + SET) + f.feed(b"", end=True) == long


def test_a_script_cut_short_comes_out_as_it_went_in():
    for script in (b"SELECT 'unfinished", b"COPY t FROM stdin;\n1\n2", b"ALTER TABLE ONLY t ALTER COLUMN a SET (pg_"):
        assert filtered(script) == (script, 0)


def test_with_nothing_to_leave_out_every_chunk_passes_unread():
    f = ColumnOptions(frozenset())
    assert [f.feed(SET[:9]), f.feed(SET[9:] + b"COPY t FROM stdin;\n'"), f.feed(b"", end=True)] == [
        SET[:9], SET[9:] + b"COPY t FROM stdin;\n'", b""]
    assert f.columns == 0


def test_the_record_says_what_was_left_out_and_why():
    assert note(0) == ""
    line = note(3)
    assert line.startswith("left out of 3 column(s)' options: pg_attver, an option Debian's PostgreSQL 15 sets")
    assert "other column options kept" in line
