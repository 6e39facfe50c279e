#!/usr/bin/perl
# Webhook deliveries are pruned with the event log (issue 12): once
# incidentd-sse's prune has taken the events past event_retention_days, a
# subscription's deliveries of seqs below its organisation's oldest event
# still logged go too (every one, when none is left), in batches: its rows,
# its runs (sql/014) that end below that seq, and the part below it of a run
# that reaches past it.  The deliveries of events still logged stay, and the
# deliveries list and replay agree with the log that is left.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use ApiCall qw(error_is);
use IncidentdTest;
use StreamCheck qw(eventually);
use HookCheck qw(delivered_runs);

# No incidentd-hooks: this test writes the delivery rows itself.
my $s = IncidentdTest->new(hooks => 0);
my $api = ApiCall->new($s, $s->key('admin'));
my $OLD = 1500;     # events past retention in the first org: more than one batch of 1,000
my $FRESH = 5;      # events still within it

sub q1 { my $v = $s->psql($_[0]); chomp $v; return $v }

# A subscription of the org whose admin key is $key; its id.
sub subscribe {
	my ($key, $name) = @_;
	my $r = $api->call(POST => '/v1/webhooks', key => $key, body => { url => "https://hooks.example.com/$name" });
	$r->{status} == 201 or die "subscribe $name: $r->{status} $r->{content}";
	return $r->{json}{id};
}

# Events $from..$to of $org, logged $age ago, and the org's seq at $to.
sub log_events {
	my ($org, $from, $to, $age) = @_;
	$s->psql("INSERT INTO events (org_id, seq, type, incident_id, payload, at, created_at) "
		. "SELECT $org, g, 'incident.deleted', g, json_build_object('incident_id', g), "
		. "now() - interval '$age', now() - interval '$age' FROM generate_series($from, $to) g");
	$s->psql("UPDATE orgs SET event_seq = $to WHERE id = $org");
}

# A delivered row for each of the subscription's seqs $from..$to, as
# incidentd-hooks writes them.
sub delivered {
	my ($hook, $from, $to) = @_;
	$s->psql("INSERT INTO webhook_deliveries (webhook_id, seq, event, attempts, first_attempt_at, "
		. "last_status, delivered_at, duration_ms) SELECT '$hook', g, 'incident.deleted', 1, now(), 200, now(), 5 "
		. "FROM generate_series($from, $to) g");
}

# A subscription's deliveries, rows and runs, and their seqs.
sub rows { q1("SELECT count(*) FROM webhook_delivery_log WHERE webhook_id = '$_[0]'") + 0 }
sub seqs { q1("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM webhook_delivery_log WHERE webhook_id = '$_[0]'") // '' }
sub runs { q1("SELECT string_agg(first_seq || '-' || last_seq, ',' ORDER BY first_seq) FROM webhook_delivery_runs "
	. "WHERE webhook_id = '$_[0]'") // '' }

# The first org: $OLD events past retention, then $FRESH within it; two
# subscriptions delivered every one of them, the first in rows, the second
# in runs: one event each ($OLD - 2 of them, more than a batch), then one
# that reaches past the oldest event kept, and one after it.
my $ORG = $s->org_id;
my @hooks = map { subscribe($s->key('admin'), "a$_") } 1, 2;
log_events($ORG, 1, $OLD, '40 days');
log_events($ORG, $OLD + 1, $OLD + $FRESH, '1 hour');
delivered($hooks[0], 1, $OLD + $FRESH);
delivered_runs($s, $hooks[1], 1, $OLD - 2);
delivered_runs($s, $hooks[1], $OLD - 1, $OLD + 3, size => 5);
delivered_runs($s, $hooks[1], $OLD + 4, $OLD + $FRESH, size => 2);
# Another org whose whole log is past retention: rows, then a run.
my $other = $s->new_org;
my $gone = subscribe($other->{keys}{admin}, 'b');
log_events($other->{id}, 1, 10, '40 days');
delivered($gone, 1, 5);
delivered_runs($s, $gone, 6, 10, size => 5);
# A third whose log is all within retention.
my $kept_org = $s->new_org;
my $kept = subscribe($kept_org->{keys}{admin}, 'c');
log_events($kept_org->{id}, 1, 3, '1 day');
delivered($kept, 1, 3);

is(rows($_), $OLD + $FRESH, "before the prune: a delivery for every event, the pruned ones too ($_)") for @hooks;

$s->kill_sse;    # a new incidentd-sse prunes as it starts
ok(eventually(sub { q1("SELECT count(*) FROM events WHERE org_id IN ($ORG, $other->{id}) "
	. "AND created_at < now() - interval '30 days'") == 0 }, 30 * IncidentdTest::slowdown()),
	'the events past retention are pruned');
ok(eventually(sub { rows($hooks[0]) + rows($hooks[1]) + rows($gone) == 2 * $FRESH }, 30 * IncidentdTest::slowdown()),
	"the deliveries of the pruned events go with them")
	or diag(join ', ', map { rows($_) } @hooks, $gone);
my $fresh = join ',', $OLD + 1 .. $OLD + $FRESH;
is(seqs($_), $fresh, "the deliveries of the events still logged stay ($_)") for @hooks;
is(runs($hooks[1]), ($OLD + 1) . '-' . ($OLD + 3) . ',' . ($OLD + 4) . '-' . ($OLD + $FRESH),
	'the run that reached past the oldest event is cut there, the one after kept');
is(rows($gone), 0, 'an organisation with no event left: every delivery of its subscription');
is(seqs($kept), '1,2,3', 'an organisation whose log is all retained: every row stays');
my $total = $OLD + 5;
my $runs = $OLD - 2 + 1 + 1;
ok(eventually(sub { $s->log =~ /msg="sse: pruned webhook deliveries" rows=$total\b/
		&& $s->log =~ /msg="sse: pruned webhook delivery runs" rows=$runs\b/ }, 5 * IncidentdTest::slowdown()),
	"logged once each, with the totals ($total rows, $runs runs gone or cut)")
	or diag(join "\n", grep { /prune/ } split /\n/, $s->log);

# What the API shows agrees with the log that is left.
for my $hook (@hooks) {
	my $r = $api->call(GET => "/v1/webhooks/$hook/deliveries?limit=100");
	my @listed = map { $_->{seq} } @{ $r->{json}{deliveries} || [] };
	is_deeply(\@listed, [ reverse $OLD + 1 .. $OLD + $FRESH ], "the deliveries list: the retained events only ($hook)")
		or diag("listed: @listed[0 .. ($#listed < 9 ? $#listed : 9)] ... ($r->{status})");
	ok(!$r->{json}{has_more}, '... and no more');
}
error_is($api->call(POST => "/v1/webhooks/$hooks[0]/replay", body => { from_seq => $OLD }), 422,
	'validation_error', 'out_of_range', 'replay from a pruned seq', field => 'from_seq');
is($api->call(POST => "/v1/webhooks/$hooks[0]/replay", body => { from_seq => $OLD + 1 })->{status}, 200,
	'replay from the oldest event still logged');

$s->finish;
done_testing;
