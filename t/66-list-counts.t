#!/usr/bin/perl
# A list's total from the per-org counters of sql/006_incident_counts.sql:
# exact under every filter combination after creates, updates and deletes
# through /v1 and the compatibility mounts, after multi-row statements and
# an org's deletion in SQL, and with concurrent writers moving incidents of
# one org in opposite directions (no deadlock, no lost count). Lists by tag
# or q count at most list_count_cap + 1 rows (5 here): total is then a lower
# bound, exact on the last page. Cursors carry their page's offset; one of
# the first format (28 characters, none carried) still works. The migration
# fills the counters from the incidents already there.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Basename qw(dirname);
use Digest::SHA qw(sha256);
use HTTP::Tiny;
use POSIX ();
use MIME::Base64 qw(encode_base64);
use IncidentdTest;
use OpenAPICheck;
use ApiCall qw(error_is);

my $CAP = 5;
my $s = IncidentdTest->new(workers => 2, config => { list_count_cap => $CAP });
my $api = ApiCall->new($s, $s->key('write'));
my $ORG = $s->org_id;
my $A = '/compat/alert24/api/v1/incidents';
my $S = '/compat/statly/api/v1/incidents';

my @STATUS = qw(new open acknowledged in_progress investigating identified monitoring resolved postmortem closed);
my @PRIORITY = qw(low normal high urgent);
my @SEVERITY = qw(critical high medium low maintenance);
my @SOURCE = qw(api email webhook alert);
my %VALUES = (status => \@STATUS, priority => \@PRIORITY, severity => \@SEVERITY, source => \@SOURCE);
my @FILTERS = qw(status priority severity source);

sub ok_status {
	my ($r, $want, $what) = @_;
	is($r->{status}, $want, "$what: $want") or diag($r->{content});
	return $r->{json} || {};
}

# The counters equal a count of the incidents, for every org and key.
sub counters_exact {
	my ($what) = @_;
	my $diff = $s->psql(<<'SQL');
SELECT count(*) FROM (
  SELECT org_id, status, priority, severity, source, n FROM incident_counts WHERE n <> 0
  EXCEPT ALL
  SELECT org_id, status, priority, severity, source, count(*) FROM incidents GROUP BY 1, 2, 3, 4, 5) a
UNION ALL
SELECT count(*) FROM (
  SELECT org_id, status, priority, severity, source, count(*) FROM incidents GROUP BY 1, 2, 3, 4, 5
  EXCEPT ALL
  SELECT org_id, status, priority, severity, source, n FROM incident_counts WHERE n <> 0) b
UNION ALL
SELECT count(*) FROM incident_counts WHERE n < 0
SQL
	is($diff, "0\n0\n0\n", "$what: incident_counts = the incidents counted, no row below 0");
}

# /v1's total for every subset of the four filters, each with one value
# and with a comma list of two (picked from the rows there, and one absent
# value), against count(*) in SQL.
my $seed = 1;
sub totals_exact {
	my ($what) = @_;
	my @rows = map { [split /\|/] } split /\n/,
	    $s->psql("SELECT status, priority, severity, source FROM incidents WHERE org_id = $ORG ORDER BY id");
	my ($checked, @wrong) = (0);
	for my $mask (0 .. 15) {
		for my $many (0, 1) {
			my (@q, @where);
			for my $i (0 .. 3) {
				next unless $mask & (1 << $i);
				my $f = $FILTERS[$i];
				my $vals = $VALUES{$f};
				my @v = @rows ? ($rows[$seed++ % @rows][$i]) : ($vals->[0]);
				push @v, $vals->[$seed++ % @$vals] if $many;
				push @q, "$f=" . join(',', @v);
				push @where, "$f IN (" . join(',', map { "'$_'" } @v) . ')';
			}
			my $q = join('&', @q, 'limit=1');
			my $want = $s->psql("SELECT count(*) FROM incidents WHERE " . join(' AND ', "org_id = $ORG", @where));
			chomp $want;
			my $r = $api->call(GET => "/v1/tickets?$q");
			my $got = ($r->{json} || {})->{total} // 'none';
			push @wrong, "$q: $got, want $want" if $r->{status} != 200 || $got ne $want;
			$checked++;
		}
	}
	is_deeply(\@wrong, [], "$what: total exact for all $checked filter combinations");
}

# ------------------------------------------------------------------ writes through every path

my $i = 0;
my @v1;
for my $st (@STATUS) {
	my $r = $api->call(POST => '/v1/tickets', body => { title => "v1 $st", status => $st,
		priority => $PRIORITY[$i % 4], severity => $SEVERITY[$i % 5], source => $SOURCE[$i % 4],
		tags => $i % 3 ? ['db'] : [] });
	push @v1, ok_status($r, 201, "create $st through /v1")->{id};
	$i++;
}
my @a24;
for my $sev (qw(critical high low)) {
	my $r = $api->call(POST => $A, body => { title => "alert24 $sev", severity => $sev, status => 'open' });
	push @a24, (ok_status($r, 201, "create $sev through Alert24")->{data} || {})->{id};
}
my @statly;
for my $st (qw(investigating identified monitoring)) {
	my $r = $api->call(POST => $S, body => { title => "statly $st", status => $st, severity => 'major' });
	push @statly, ok_status($r, 201, "create $st through Statly")->{id};
}
counters_exact('after creates');
totals_exact('after creates');

ok_status($api->call(PATCH => "/v1/tickets/$v1[0]", body => { status => 'resolved', priority => 'urgent' }), 200, 'PATCH status and priority');
ok_status($api->call(PATCH => "/v1/tickets/$v1[1]", body => { severity => 'maintenance', source => 'email' }), 200, 'PATCH severity and source');
ok_status($api->call(PUT => "/v1/tickets/$v1[2]", body => { status => 'closed' }), 200, 'PUT status');
ok_status($api->call(PATCH => "/v1/tickets/$v1[3]", body => { title => 'only the title' }), 200, 'PATCH the title alone');
ok_status($api->call(PATCH => "/v1/tickets/$v1[4]", body => { status => 'monitoring', message => 'watching' }), 200, 'PATCH the status with a timeline entry');
ok_status($api->call(PUT => "$A/$a24[0]", body => { status => 'resolved', severity => 'low' }), 200, 'PUT through Alert24');
ok_status($api->call(PATCH => "$S/$statly[0]", body => { status => 'resolved', severity => 'minor', message => 'fixed' }), 200, 'PATCH through Statly');
counters_exact('after updates');
totals_exact('after updates');

ok_status($api->call(DELETE => "/v1/tickets/$v1[5]"), 204, 'DELETE through /v1');
ok_status($api->call(DELETE => "$A/$a24[1]"), 200, 'DELETE through Alert24');
ok_status($api->call(DELETE => "$S/$statly[1]"), 204, 'DELETE through Statly');
counters_exact('after deletes');
totals_exact('after deletes');

# The compatibility lists' totals come from the same counters.
my $want_open = $s->psql("SELECT count(*) FROM incidents WHERE org_id = $ORG AND status IN ('new','open','acknowledged','in_progress','investigating')");
chomp $want_open;
is((ok_status($api->call(GET => "$S?status=investigating&limit=1"), 200, 'Statly list by a word') )->{count}, $want_open,
   'Statly count for investigating (five stored statuses): exact');
my $want_crit = $s->psql("SELECT count(*) FROM incidents WHERE org_id = $ORG AND severity = 'critical'");
chomp $want_crit;
is(((ok_status($api->call(GET => "$A?severity=critical&limit=1"), 200, 'Alert24 list by severity'))->{meta} || {})->{total},
   $want_crit, 'Alert24 meta.total for severity=critical: exact');

# Statements of many rows (what a migration or an operator's SQL does), and an org's deletion.
$s->psql(<<"SQL");
UPDATE incidents SET status = CASE status WHEN 'closed' THEN 'open' WHEN 'open' THEN 'closed' ELSE status END,
    priority = CASE WHEN id % 2 = 0 THEN 'high' ELSE priority END WHERE org_id = $ORG;
INSERT INTO incidents (org_id, title, status, priority, severity, source, sla_due_at, customer_token,
    started_at, created_by, created_at, updated_at)
SELECT $ORG, 'bulk ' || g, (ARRAY['open','resolved','closed'])[g % 3 + 1], 'low', 'medium', 'webhook', now(),
    'bulk-token-' || lpad(g::text, 12, '0'), now(), 'sql', now() - g * interval '1 minute', now() FROM generate_series(1, 40) g;
DELETE FROM incidents WHERE org_id = $ORG AND title LIKE 'bulk %' AND customer_token LIKE '%5';
SQL
counters_exact('after multi-row UPDATE, INSERT and DELETE in SQL');
totals_exact('after multi-row statements');
my $other = $s->new_org('doomed');
my $other_id = ref $other ? $other->{id} : $other;
$s->psql("INSERT INTO incidents (org_id, title, status, priority, severity, source, sla_due_at, customer_token, started_at, created_by, created_at, updated_at) "
	. "SELECT $other_id, 'doomed', 'open', 'low', 'low', 'api', now(), 'doomed-token-' || lpad(g::text, 12, '0'), now(), 'sql', now(), now() FROM generate_series(1, 3) g");
$s->psql("DELETE FROM orgs WHERE id = $other_id");
counters_exact("after deleting an org (its incidents cascade)");
is($s->psql("SELECT coalesce(sum(n), 0) FROM incident_counts WHERE org_id = $other_id"), "0\n", "the deleted org's counts are 0");

# ------------------------------------------------------------------ concurrent writers
# Four writers, each with its own incidents of this org, move them between
# open and resolved (half of them the other way round) as fast as they can:
# the counter rows of one org are locked in one order, so no update dies in
# a deadlock (a 503) and no count is lost.
my @mine = map { ok_status($api->call(POST => '/v1/tickets', body => { title => "racer $_", status => $_ % 2 ? 'open' : 'resolved',
	priority => 'high', severity => 'high', source => 'alert', tags => ['db'] }), 201, "racer $_")->{id} } 1 .. 8;
my @kids;
for my $w (0 .. 3) {
	my $pid = fork // die "fork: $!";
	if ($pid == 0) {
		my $http = HTTP::Tiny->new(timeout => 30);
		my $bad = 0;
		for my $round (1 .. 25) {
			for my $id (@mine[2 * $w, 2 * $w + 1]) {
				my $to = ($round + $id + $w) % 2 ? 'open' : 'resolved';
				my $r = $http->request(PATCH => $s->url . "/v1/tickets/$id", { content => qq({"status":"$to","priority":"@{[ $round % 2 ? 'high' : 'urgent' ]}"}),
					headers => { 'x-api-key' => $s->key('write'), 'content-type' => 'application/json' } });
				$bad++ if $r->{status} != 200;
			}
		}
		POSIX::_exit($bad > 255 ? 255 : $bad);
	}
	push @kids, $pid;
}
my @failed;
for my $pid (@kids) {
	waitpid($pid, 0);
	push @failed, $? >> 8;
}
is_deeply(\@failed, [0, 0, 0, 0], 'four concurrent writers: all 200 PATCHes answered 200 (no deadlock)');
unlike($s->log, qr/deadlock/i, 'no deadlock in the log');
counters_exact('after the concurrent writers');
totals_exact('after the concurrent writers');

# ------------------------------------------------------------------ capped totals (tag, q)
my $tagged = $s->psql("SELECT count(*) FROM incidents WHERE org_id = $ORG AND tags @> '[\"db\"]'");
chomp $tagged;
cmp_ok($tagged, '>', $CAP + 2, "more than cap + 2 incidents tagged db ($tagged)");
my $p1 = ok_status($api->call(GET => '/v1/tickets?tag=db&limit=2'), 200, 'tag=db, limit 2');
is_deeply([@$p1{qw(total offset)}, !!$p1->{has_more}], [$CAP + 1, 0, 1], "tag=db page 1: total capped at list_count_cap + 1 = @{[ $CAP + 1 ]}");
my $p3 = ok_status($api->call(GET => '/v1/tickets?tag=db&limit=2&offset=6'), 200, 'tag=db offset 6');
is($p3->{total}, $tagged > 8 ? 9 : $tagged, 'tag=db at offset 6: total = offset + rows + 1 while more follow (or exact at the end)');
my $last = ok_status($api->call(GET => "/v1/tickets?tag=db&limit=2&offset=" . ($tagged - 1)), 200, 'tag=db last page');
is_deeply([$last->{total}, !!$last->{has_more}], [$tagged, ''], 'tag=db last page: total exact');
my $past = ok_status($api->call(GET => "/v1/tickets?tag=db&limit=2&offset=" . ($tagged + 10)), 200, 'tag=db past the end');
is_deeply([$past->{total}, !!$past->{has_more}, scalar @{ $past->{tickets} }], [$CAP + 1, '', 0], 'tag=db past the end: the capped count');
my $few = $s->psql("SELECT count(*) FROM incidents WHERE org_id = $ORG AND tags @> '[\"db\"]' AND status = 'closed'");
chomp $few;
if ($few <= $CAP) {
	is(ok_status($api->call(GET => '/v1/tickets?tag=db&status=closed&limit=1'), 200, 'tag=db&status=closed')->{total}, $few,
	   "tag=db&status=closed: $few (not above the cap): exact");
}
# A walk by cursor over a capped list: every page's meta agrees, the last is exact.
my ($cursor, $bad_meta, @seen) = (undef, 0);
for (1 .. 50) {
	my $j = ok_status($api->call(GET => '/v1/tickets?tag=db&limit=3' . ($cursor ? "&after=$cursor" : '')), 200, 'tag=db by cursor');
	my $n = @{ $j->{tickets} || [] };
	$bad_meta++ unless $j->{offset} == @seen && !!$j->{has_more} == ($j->{offset} + $n < $j->{total})
	    && ($j->{has_more} ? $j->{total} >= $CAP + 1 : $j->{total} == $tagged);
	push @seen, map { $_->{id} } @{ $j->{tickets} || [] };
	$cursor = $j->{next_cursor} or last;
}
is_deeply([scalar @seen, $bad_meta], [$tagged, 0],
          'tag=db by cursor: every incident once, offsets exact, has_more agrees, the last total exact');
my $qp = ok_status($api->call(GET => '/v1/tickets?q=racer&limit=2'), 200, 'q=racer');
is_deeply([$qp->{total}, !!$qp->{has_more}], [$CAP + 1, 1], 'q=racer (8 match): total capped at 6');
is(ok_status($api->call(GET => '/v1/tickets?q=racer&limit=2&offset=6'), 200, 'q=racer last page')->{total}, 8, 'q=racer last page: exact 8');

# ------------------------------------------------------------------ cursors carry their offset
my $c1 = ok_status($api->call(GET => '/v1/tickets?limit=4&offset=4'), 200, 'offset 4');
like($c1->{next_cursor} // '', qr/^[A-Za-z0-9_-]{40}\z/, 'next_cursor: 40 characters');
my $c2 = ok_status($api->call(GET => "/v1/tickets?limit=4&after=$c1->{next_cursor}"), 200, 'after it');
is($c2->{offset}, 8, 'the page after offset 4 + 4: offset 8, from the cursor');
# A cursor of the first format: kind, created_at µs, id, 4 bytes of check.
my ($at, $id) = split /\|/, $s->psql("SELECT (extract(epoch from created_at) * 1000000)::bigint, id FROM incidents WHERE org_id = $ORG ORDER BY created_at DESC, id DESC OFFSET 7 LIMIT 1");
chomp $id;
my $raw = pack('C q> q>', 1, $at, $id);
my $v1cursor = encode_base64($raw . substr(sha256("incidentd cursor 1\0" . $raw), 0, 4), '') =~ tr{+/}{-_}r;
is(length $v1cursor, 28, 'a first-format cursor: 28 characters');
my $c3 = ok_status($api->call(GET => "/v1/tickets?limit=4&after=$v1cursor"), 200, 'after a first-format cursor');
is_deeply([map { $_->{id} } @{ $c3->{tickets} }], [map { $_->{id} } @{ $c2->{tickets} }], '... the same page');
is($c3->{offset}, 8, '... its offset counted: 8');
error_is($api->call(GET => '/v1/tickets?after=' . ($v1cursor =~ s/^(.{5})(.)/$1 . ($2 eq 'A' ? 'B' : 'A')/er)), 422,
	'validation_error', 'invalid_value', 'an edited first-format cursor: 422', parameter => 'after');

# ------------------------------------------------------------------ the migration's backfill
my $sql_dir = dirname(__FILE__) . '/../sql';
sub slurp { my ($f) = @_; open my $fh, '<', "$sql_dir/$f" or die "$sql_dir/$f: $!"; local $/; <$fh> }
sub in_schema { $s->psql("SET search_path = upgrade; $_[0]") }
$s->psql('CREATE SCHEMA upgrade');
in_schema(join '', map { slurp($_) } qw(001_schema.sql 002_events_by_incident.sql 003_compat.sql 004_contract.sql 005_search.sql));
in_schema(<<'SQL');
INSERT INTO orgs (id, name) VALUES (1, 'one'), (2, 'two');
INSERT INTO incidents (org_id, title, status, priority, severity, source, sla_due_at, customer_token,
    started_at, created_by, created_at, updated_at)
SELECT 1 + g % 2, 'old ' || g, (ARRAY['open','resolved','closed'])[g % 3 + 1], (ARRAY['low','high'])[g % 2 + 1],
    'medium', (ARRAY['api','email','alert'])[g % 3 + 1], now(), 'old-' || g, now(), 'k', now(), now()
FROM generate_series(1, 30) g;
SQL
in_schema(slurp('006_incident_counts.sql'));
is(in_schema('SELECT org_id, status, priority, source, n FROM incident_counts ORDER BY 1, 2, 3, 4'),
   in_schema('SELECT org_id, status, priority, source, count(*) FROM incidents GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4'),
   '006 on existing incidents: the counters are their counts');
in_schema("UPDATE incidents SET status = 'open' WHERE id IN (SELECT id FROM incidents ORDER BY id LIMIT 5); DELETE FROM incidents WHERE id % 7 = 0");
is(in_schema('SELECT org_id, status, priority, source, n FROM incident_counts WHERE n <> 0 ORDER BY 1, 2, 3, 4'),
   in_schema('SELECT org_id, status, priority, source, count(*) FROM incidents GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4'),
   '006: the triggers keep them after (in the schema the migration ran in)');
counters_exact('the live schema, after the upgrade schema was written');

$s->finish;
done_testing;
