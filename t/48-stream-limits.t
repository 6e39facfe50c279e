#!/usr/bin/env perl
# Stream limits that strangers and runaway clients meet (DESIGN §5): org
# streams per API key (max_streams_per_key, incidentd-sse), public streams per
# client address (nginx limit_conn, 200), both answered 429 in the envelope
# while everyone else is unaffected; and a public stream's replay reads only
# its own incident's events, never the whole organisation's log.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);

use lib 't/lib';
use IncidentdTest;
use StreamCheck;

my $PATH = '/v1/incidents/stream';
my $PUBLIC_PER_ADDRESS = 200;    # nginx/incidentd-streams.conf

my $s = IncidentdTest->new(own_postgres => 1, config => { max_streams_per_key => 3 });
my ($W, $R) = map { $s->key($_) } qw(write read);

sub create {
	my ($title) = @_;
	my $r = $s->req(POST => '/v1/tickets', key => $W, body => { title => $title });
	die "create: $r->{status}\n" unless $r->{status} == 201;
	return $r->{json};
}

subtest 'max_streams_per_key: the stream over the cap gets 429, other keys do not' => sub {
	my $seq = current_seq($s);
	my @open = map { stream_ok($s, $PATH, "stream $_ of key read", key => $R, fresh_id => $seq) } 1 .. 3;
	my $fourth = $s->stream($PATH, key => $R);
	error_ok($fourth, 429, 'rate_limit_error', 'too_many_streams', 'a fourth stream of the same key');
	is($fourth->header('retry-after'), '10', 'with Retry-After');
	my $other = stream_ok($s, $PATH, 'a stream of another key', key => $W, fresh_id => $seq);
	create('past the cap');
	for my $c (@open, $other) {
		my $e = $c->next_event(5);
		is($e && $e->{id}, $seq + 1, 'the open streams still get events');
	}
	(shift @open)->close;
	my $again;
	my $deadline = time + 10;
	until (($again = $s->stream($PATH, key => $R))->{status} == 200 || time > $deadline) {
		sleep 0.1;
	}
	is($again->{status}, 200, 'a closed stream frees its slot');
	$_->close for @open, $other, $again;
};

subtest "public streams: $PUBLIC_PER_ADDRESS per client address, 429 past that" => sub {
	my $inc = create('watched by many');
	my $path = "/incidents/status/$inc->{customer_token}/stream";
	my (@open, %refused, $refusal);
	for (1 .. 1000) {
		my $c = $s->stream($path);
		if ($c->{status} == 200) { push @open, $c; next }
		$refused{ $c->{status} }++;
		$refusal //= $c;
	}
	is(scalar @open, $PUBLIC_PER_ADDRESS, "1,000 from one address: $PUBLIC_PER_ADDRESS open");
	is_deeply(\%refused, { 429 => 1000 - $PUBLIC_PER_ADDRESS }, 'the rest get 429');
	error_ok($refusal, 429, 'rate_limit_error', 'rate_limited', 'a refused public stream') if $refusal;
	my $elsewhere = $s->stream($path, local_addr => '127.0.0.2');
	is($elsewhere->{status}, 200, 'another address still opens one');
	my $seq = current_seq($s);
	my $org = stream_ok($s, $PATH, 'an org stream from the same address', key => $W, fresh_id => $seq);
	is($s->req(POST => "/v1/incidents/$inc->{id}/replies", key => $W, body => { body => 'update' })->{status},
		201, 'a public reply');
	my $late = grep { my $e = $_->next_event(10); !($e && $e->{id} == $seq + 1) } @open, $elsewhere;
	is($late, 0, 'it reaches every open public stream');
	my $e = $org->next_event(5);
	is($e && $e->{id}, $seq + 1, 'and the org stream');
	$_->close for @open, $elsewhere, $org;
};

# The stream process's statements, from PostgreSQL's own log.
sub sse_statements {
	my ($from) = @_;
	my $log = $s->_slurp("$s->{dir}/postgres.log");
	return grep { /^incidentd-sse .*execute/ } split /\n/, substr($log, $from);
}

subtest 'a public replay reads its incident only, in one query' => sub {
	my $watched = create('the watched one');
	is($s->req(POST => "/v1/incidents/$watched->{id}/replies", key => $W, body => { body => 'first update' })->{status},
		201, 'its first public update');
	my $other = create('busy elsewhere');
	# 3,000 events of another incident after it: twelve rings' worth, three
	# pages of an org replay.
	my $org_id = $s->org_id;
	$s->psql("INSERT INTO events (org_id, seq, type, incident_id, payload, at) "
		. "SELECT e.org_id, o.event_seq + g, e.type, e.incident_id, e.payload, e.at "
		. "FROM events e JOIN orgs o ON o.id = e.org_id, generate_series(1, 3000) g "
		. "WHERE e.org_id = $org_id AND e.incident_id = $other->{id}");
	$s->psql("UPDATE orgs SET event_seq = event_seq + 3000 WHERE id = $org_id");
	my $seq = current_seq($s);
	$s->psql("ALTER SYSTEM SET log_statement = 'all'");
	$s->psql("ALTER SYSTEM SET log_line_prefix = '%a '");
	$s->psql('SELECT pg_reload_conf()');
	my $from = -s "$s->{dir}/postgres.log";

	my $c = $s->stream("/incidents/status/$watched->{customer_token}/stream?last_event_id=0");
	is($c->{status}, 200, 'a public stream from the start of the log');
	my $e = $c->next_event(10);
	is($e && $e->{event}, 'incident.reply', 'replays its incident\'s update');
	like($e ? $e->{data_raw} : '', qr/first update/, 'its own');
	is($s->psql("SELECT 1"), "1\n", 'PostgreSQL answers');    # the log has caught up
	my @reads = grep { /FROM events/ } sse_statements($from);
	is(scalar @reads, 1, 'one query read the log for it') or diag(join "\n", @reads);
	like($reads[0] // '', qr/incident_id = \$4/, 'filtered by incident');
	my $live = create('then live');
	is($s->req(POST => "/v1/incidents/$watched->{id}/replies", key => $W, body => { body => 'live' })->{status},
		201, 'a reply afterwards');
	$e = $c->next_event(10);
	is($e && $e->{id}, $seq + 2, 'arrives live, the other incident skipped');
	$s->psql("ALTER SYSTEM RESET log_statement");
	$s->psql('SELECT pg_reload_conf()');
};

$s->finish;
done_testing;
