#!/usr/bin/env perl
# GET /metrics (DESIGN §7): the whole host in Prometheus text exposition
# format 0.0.4, through nginx, from loopback only. The format is checked by a
# strict parser below (Debian's promtool comes only with the whole Prometheus
# server, ~100 MB with its web assets, too heavy for a test tool); the
# counters move with traffic whichever worker answers the scrape, no counter
# ever goes backwards (a killed worker, workers replaced after max_requests,
# Redis and PostgreSQL outages), and incidentd-sse's figures follow its
# streams.
use strict;
use warnings;
use HTTP::Tiny;
use JSON::PP ();
use Test::More;

use lib 't/lib';
use IncidentdTest;
use OpenAPICheck qw(response_ok);
use StreamCheck;

# ---------------------------------------------------------------- the parser

my $NAME = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
my $LABEL = qr/[a-zA-Z_][a-zA-Z0-9_]*/;
my $FLOAT = qr/[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|Inf|NaN)/;

# A series' key: name{label="value",...} with the labels sorted by name.
sub series {
	my ($name, %labels) = @_;
	return $name unless %labels;
	return $name . '{' . join(',', map { qq{$_="$labels{$_}"} } sort keys %labels) . '}';
}

sub parse_labels {
	my ($text, $err) = @_;
	my %labels;
	return \%labels if !defined $text || $text eq '';
	pos($text) = 0;
	while ($text =~ /\G($LABEL)="((?:[^"\\\n]|\\[\\"n])*)"/gc) {
		$err->("label $1 given twice") if exists $labels{$1};
		$labels{$1} = $2;
		last unless $text =~ /\G,/gc;
	}
	$err->("malformed labels {$text}") unless (pos($text) // 0) == length $text;
	return \%labels;
}

# The family a sample belongs to, by the TYPE lines seen so far.
sub family_of {
	my ($name, $type) = @_;
	return $name if $type->{$name};
	if ($name =~ /^(.+)_(bucket|sum|count)$/) {
		my $t = $type->{$1} // '';
		return $1 if $t eq 'histogram' || ($t eq 'summary' && $2 ne 'bucket');
	}
	return undef;
}

# Every histogram series: buckets in increasing le, cumulative, ending in
# +Inf equal to _count, with a _sum.
sub check_histograms {
	my ($hist, $err) = @_;
	for my $id (sort keys %$hist) {
		my $h = $hist->{$id};
		my @b = @{ $h->{buckets} || [] };
		$err->("$id: no buckets"), next unless @b;
		for my $i (1 .. $#b) {
			$err->("$id: le=$b[$i][0] after le=$b[$i-1][0]") unless $b[$i][0] > $b[$i - 1][0];
			$err->("$id: bucket le=$b[$i][0] below the one before") if $b[$i][1] < $b[$i - 1][1];
		}
		$err->("$id: the last bucket is le=$b[-1][0], not +Inf") unless $b[-1][0] == 9**9**9;
		$err->("$id: no _count") unless defined $h->{count};
		$err->("$id: no _sum") unless defined $h->{sum};
		$err->("$id: +Inf bucket $b[-1][1] != _count " . ($h->{count} // 'none'))
		    if defined $h->{count} && $b[-1][1] != $h->{count};
	}
}

# Parses an exposition strictly: { samples => {series => value},
# types => {family => type}, errors => [...] }.
sub parse_exposition {
	my ($text) = @_;
	my (@errors, %type, %help, %samples, %hist, %done, $current);
	my $n = 0;
	my $err = sub { push @errors, "line $n: $_[0]" };
	my $body = $text;
	push @errors, 'the text does not end with a newline' unless $body =~ s/\n\z//;
	for my $line (split /\n/, $body, -1) {
		$n++;
		if ($line =~ /^#/) {
			next unless $line =~ /^# (HELP|TYPE) (\S+)(?: (.*))?$/;
			my ($kw, $name, $rest) = ($1, $2, $3 // '');
			$err->("bad metric name '$name'") unless $name =~ /^$NAME$/;
			if ($kw eq 'HELP') {
				$err->("second HELP for $name") if $help{$name}++;
				$err->("bad escape in the HELP of $name") if $rest =~ /\\(?![\\n])/;
				next;
			}
			$err->("unknown TYPE '$rest' for $name")
			    unless $rest =~ /^(?:counter|gauge|histogram|summary|untyped)$/;
			$err->("second TYPE for $name") if exists $type{$name};
			$err->("TYPE of $name after its samples") if $done{$name} || ($current // '') eq $name;
			$type{$name} = $rest;
			next;
		}
		if ($line !~ /^($NAME)(?:\{([^}]*)\})? ($FLOAT)(?: -?\d+)?$/) {
			$err->("not a sample: '$line'");
			next;
		}
		my ($name, $labels, $value) = ($1, parse_labels($2, $err), $3);
		my $family = family_of($name, \%type);
		$err->("sample $name has no TYPE before it"), next unless defined $family;
		if (($current // '') ne $family) {
			$err->("samples of $family are not together") if $done{$family};
			$done{$current} = 1 if defined $current;
			$current = $family;
		}
		my $key = series($name, %$labels);
		$err->("series $key twice") if exists $samples{$key};
		$samples{$key} = $value;
		my $t = $type{$family};
		$err->("counter $key is $value") if $t eq 'counter' && !($value >= 0);
		next unless $t eq 'histogram';
		my %rest = %$labels;
		my $le = delete $rest{le};
		my $id = series($family, %rest);
		if ($name eq "${family}_bucket") {
			$err->("bucket without le: $key"), next unless defined $le;
			push @{ $hist{$id}{buckets} }, [ $le eq '+Inf' ? 9**9**9 : $le, $value ];
		} else {
			$err->("le on $key") if defined $le;
			$hist{$id}{ $name eq "${family}_sum" ? 'sum' : 'count' } = $value;
		}
	}
	check_histograms(\%hist, sub { push @errors, $_[0] });
	return { samples => \%samples, types => \%type, errors => \@errors };
}

subtest 'the parser rejects what the format forbids' => sub {
	my $good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n"
	    . "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.5\nh_count 2\n"
	    . "# TYPE g gauge\ng -1.5e3\n";
	is_deeply(parse_exposition($good)->{errors}, [], 'a valid text passes');
	my %bad = (
		'no newline at the end' => "# TYPE g gauge\ng 1",
		'a sample before its TYPE' => "g 1\n# TYPE g gauge\n",
		'a sample of no TYPE' => "# TYPE g gauge\nh 1\n",
		'a bad metric name' => "# TYPE 1g gauge\n1g 1\n",
		'a bad value' => "# TYPE g gauge\ng 1.2.3\n",
		'a bad label escape' => "# TYPE g gauge\ng{a=\"\\x\"} 1\n",
		'an unterminated label' => "# TYPE g gauge\ng{a=\"x} 1\n",
		'a label twice' => "# TYPE g gauge\ng{a=\"x\",a=\"y\"} 1\n",
		'a series twice' => "# TYPE g gauge\ng{a=\"x\"} 1\ng{a=\"x\"} 2\n",
		'an unknown TYPE' => "# TYPE g gauges\ng 1\n",
		'TYPE twice' => "# TYPE g gauge\n# TYPE g gauge\ng 1\n",
		'a family split' => "# TYPE g gauge\ng{a=\"1\"} 1\n# TYPE k gauge\nk 1\ng{a=\"2\"} 1\n",
		'a negative counter' => "# TYPE c_total counter\nc_total -1\n",
		'an empty line' => "# TYPE g gauge\n\ng 1\n",
		'buckets not cumulative' => "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
		'no +Inf bucket' => "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
		'+Inf other than _count' => "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
		'buckets out of order' => "# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
		'no _sum' => "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
	);
	for my $what (sort keys %bad) {
		my $e = parse_exposition($bad{$what})->{errors};
		ok(@$e > 0, "rejects $what") or diag($bad{$what});
	}
};

# ---------------------------------------------------------------- the stack

my $s = IncidentdTest->new(config => { max_streams_per_key => 2 });
my ($W, $R) = map { $s->key($_) } qw(write read);
my $WORKERS = $s->{conf}{workers};    # as the harness configured them

# The monotonic series (counters, histograms) of the previous scrape: every
# scrape must find each of them at least as high.
my (%last, @backwards, $scrapes);

sub monotonic {
	my ($p) = @_;
	my %m;
	for my $key (keys %{ $p->{samples} }) {
		my ($name) = $key =~ /^($NAME)/;
		my $t = $p->{types}{ family_of($name, $p->{types}) } // '';
		$m{$key} = $p->{samples}{$key} if $t eq 'counter' || $t eq 'histogram';
	}
	return \%m;
}

# GET /metrics, parsed; dies unless it is a clean 200.
sub scrape {
	my $r = $s->req(GET => '/metrics');
	die "GET /metrics: $r->{status} $r->{content}\n" unless $r->{status} == 200;
	my $p = parse_exposition($r->{content});
	die "GET /metrics does not parse:\n" . join("\n", @{ $p->{errors} }) . "\n" if @{ $p->{errors} };
	my $m = monotonic($p);
	for my $key (sort keys %last) {
		push @backwards, "$key: $last{$key} -> " . ($m->{$key} // 'gone')
		    unless defined $m->{$key} && $m->{$key} >= $last{$key};
	}
	%last = %$m;
	$scrapes++;
	return $p->{samples};
}

# A series' value in a scrape; 0 while never observed.
sub val {
	my ($m, $name, %labels) = @_;
	return $m->{ series($name, %labels) } // 0;
}

sub requests { val($_[0], 'incidentd_http_requests_total', route => $_[1], status => $_[2]) }
sub timed { val($_[0], 'incidentd_http_request_duration_seconds_count', route => $_[1]) }

sub create {
	my ($title) = @_;
	my $r = $s->req(POST => '/v1/tickets', key => $W, body => { title => $title });
	die "create: $r->{status} $r->{content}\n" unless $r->{status} == 201;
	return $r->{json};
}

# ---------------------------------------------------------------- the tests

subtest 'a scrape: Prometheus text 0.0.4 with every family' => sub {
	my $r = $s->req(GET => '/metrics');
	is($r->{status}, 200, 'status 200');
	is($r->{headers}{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8', 'Content-Type');
	is($r->{headers}{'cache-control'}, 'no-store', 'Cache-Control: no-store');
	response_ok($r, GET => '/metrics');
	my $p = parse_exposition($r->{content});
	is_deeply($p->{errors}, [], 'it parses strictly') or diag(substr($r->{content}, 0, 2000));
	my %want = (
		incidentd_http_requests_total => 'counter',
		incidentd_http_request_duration_seconds => 'histogram',
		incidentd_workers => 'gauge',
		incidentd_worker_restarts_total => 'counter',
		incidentd_db_errors_total => 'counter',
		incidentd_redis_errors_total => 'counter',
		incidentd_publish_failures_total => 'counter',
		incidentd_sse_streams => 'gauge',
		incidentd_sse_events_delivered_total => 'counter',
		incidentd_sse_catchups_total => 'counter',
		incidentd_sse_replays_total => 'counter',
		incidentd_sse_clients_dropped_total => 'counter',
		incidentd_sse_redis_reconnects_total => 'counter',
		incidentd_webhook_deliveries_total => 'counter',
		incidentd_webhook_oldest_pending_seconds => 'gauge',
	);
	is_deeply($p->{types}, \%want, 'the families and their types');
	like($r->{content}, qr/^# HELP incidentd_worker_restarts_total .*died.*max_requests/m,
		'the restart HELP says what each reason means');
	ok(exists $p->{samples}{ series('incidentd_sse_streams', kind => $_) }, "incidentd_sse_streams{kind=\"$_\"}")
	    for qw(org public);
	scrape();
};

my %traffic;    # what the next subtest added, to check it is never lost

subtest 'requests are counted by route pattern and status, whichever worker scrapes' => sub {
	my $before = scrape();
	my $inc = create('counted');
	my $n = 30;
	for my $i (1 .. $n) {
		my $coll = $i % 2 ? 'tickets' : 'incidents';
		my $r = $s->req(GET => "/v1/$coll/$inc->{id}", key => $R);
		die "GET: $r->{status}\n" unless $r->{status} == 200;
	}
	is($s->req(GET => '/v1/tickets/999999999', key => $R)->{status}, 404, 'a missing incident: 404');
	is($s->req(POST => '/v1/tickets', key => $W, body => {})->{status}, 422, 'a create without title: 422');
	is($s->req(GET => '/v1/no/such/path', key => $R)->{status}, 404, 'an unknown path: 404');
	%traffic = (
		'/v1/:coll/:ref 200' => $n, '/v1/:coll/:ref 404' => 1, '/v1/:coll 201' => 1,
		'/v1/:coll 422' => 1, 'none 404' => 1,
		'/v1/:coll/:ref timed' => $n + 1, '/v1/:coll timed' => 2, 'none timed' => 1,
	);
	my $seen = sub {
		my ($m) = @_;
		return { map {
			my ($route, $what) = split / /;
			$_ => ($what eq 'timed' ? timed($m, $route) - timed($before, $route)
				: requests($m, $route, $what) - requests($before, $route, $what))
		} keys %traffic };
	};
	# Workers answer scrapes in turn; each must see every worker's counts.
	my @wrong;
	for my $i (1 .. 8) {
		my $got = $seen->(scrape());
		push @wrong, "scrape $i: " . join(', ', map { "$_ $got->{$_}" } sort keys %$got)
		    unless join(',', map { "$_=$got->{$_}" } sort keys %$got)
		    eq join(',', map { "$_=$traffic{$_}" } sort keys %traffic);
	}
	is_deeply(\@wrong, [], "8 scrapes each see exactly the traffic ($n GETs by /v1/tickets/:id and "
		. '/v1/incidents/:id, a 404, a 201, a 422, an unknown path)');
	# an id or an unknown segment would make a series per path
	my @raw = grep { m{route="[^"]*/(?:\d+|no|such|path)[/"]} } keys %last;
	is_deeply(\@raw, [], 'no series is labelled with a raw path');
};

subtest 'a killed worker: nothing goes backwards, the restart is counted' => sub {
	my $before = scrape();
	my @killed;
	for my $pid ($s->worker_pids) {
		push @killed, $s->kill_worker(pid => $pid);
	}
	ok(eventually(sub { val(scrape(), 'incidentd_workers') == $WORKERS }, 10 * IncidentdTest::slowdown()),
		"incidentd_workers back to $WORKERS");
	my $after = scrape();
	is(val($after, 'incidentd_worker_restarts_total', reason => 'died')
		- val($before, 'incidentd_worker_restarts_total', reason => 'died'),
		scalar @killed, 'reason="died" counts each of the ' . scalar(@killed) . ' workers killed (SIGKILL)');
	my @gone = grep { /_total|_bucket|_sum|_count/ && (!defined $after->{$_} || $after->{$_} < $before->{$_}) }
	    sort keys %$before;
	is_deeply(\@gone, [], 'every counter and histogram series is at least where it was')
	    or diag(join "\n", map { "$_: $before->{$_} -> " . ($after->{$_} // 'gone') } @gone);
	cmp_ok(requests($after, '/v1/:coll/:ref', 200), '>=', $traffic{'/v1/:coll/:ref 200'},
		'the dead workers\' requests are still counted');
};

subtest 'incidentd_workers is the configured count' => sub {
	ok(eventually(sub { val(scrape(), 'incidentd_workers') == $WORKERS }, 10 * IncidentdTest::slowdown()),
		"incidentd_workers $WORKERS");
	is(scalar(my @pids = $s->worker_pids), $WORKERS, "the master has $WORKERS workers");
};

subtest 'from an address other than loopback: the 404 envelope' => sub {
	# 127.0.0.2 reaches nginx's 127.0.0.1 listener (all of 127/8 is this
	# host) but is not one of the addresses nginx lets through: the nearest
	# to a remote client this harness can send from.
	my $far = HTTP::Tiny->new(local_address => '127.0.0.2', timeout => 10);
	my $r = $far->get($s->url . '/metrics');
	$r->{json} = eval { JSON::PP->new->decode($r->{content}) };
	error_ok($r, 404, 'not_found_error', 'not_found', 'GET /metrics from 127.0.0.2');
	unlike($r->{content}, qr/incidentd_/, 'no metric in it');
	response_ok($r, GET => '/metrics');
	is($s->req(GET => '/metrics')->{status}, 200, 'while 127.0.0.1 still gets 200');
};

subtest 'incidentd-sse: streams by kind, events delivered, replays, refusals' => sub {
	my $stream = sub { val(scrape(), 'incidentd_sse_streams', kind => $_[0]) };
	my $base_org = $stream->('org');
	my $base_public = $stream->('public');
	my $org = stream_ok($s, '/v1/incidents/stream', 'an org stream', key => $R, fresh_id => current_seq($s));
	ok(eventually(sub { $stream->('org') == $base_org + 1 }, 5), 'kind="org" counts it');
	my $inc = create('watched');
	my $e = $org->next_event(5);
	is($e && $e->{event}, 'incident.created', 'the org stream gets incident.created');
	my $public = stream_ok($s, "/incidents/status/$inc->{customer_token}/stream", 'a public stream');
	ok(eventually(sub { $stream->('public') == $base_public + 1 }, 5), 'kind="public" counts it');
	is($stream->('org'), $base_org + 1, 'kind="org" unchanged');

	my $delivered = sub { val(scrape(), 'incidentd_sse_events_delivered_total') };
	my $d0 = $delivered->();
	is($s->req(POST => "/v1/incidents/$inc->{id}/replies", key => $W, body => { body => 'on it' })->{status},
		201, 'a public reply');
	ok($org->next_event(5) && $public->next_event(5), 'both streams get it');
	ok(eventually(sub { $delivered->() == $d0 + 2 }, 5), 'events delivered: +2 (one per stream)')
	    or diag('delivered: ' . ($delivered->() - $d0));

	my $replays = val(scrape(), 'incidentd_sse_replays_total');
	my $seq = current_seq($s);
	my $d1 = $delivered->();
	my $resumed = stream_ok($s, '/v1/incidents/stream', 'a stream resuming two events back', key => $R,
		headers => { 'Last-Event-ID' => $seq - 2 });
	ids_ok(scalar $resumed->events_until_id($seq, 5), $seq - 1, $seq, 'the replay');
	is(val(scrape(), 'incidentd_sse_replays_total'), $replays + 1, 'replays: +1');
	is($delivered->(), $d1 + 2, 'events delivered: +2 replayed');

	my $limit = val(scrape(), 'incidentd_sse_clients_dropped_total', reason => 'limit');
	my $third = $s->stream('/v1/incidents/stream', key => $R);
	error_ok($third, 429, 'rate_limit_error', 'too_many_streams', 'a third stream of the key (max 2)');
	is(val(scrape(), 'incidentd_sse_clients_dropped_total', reason => 'limit'), $limit + 1,
		'dropped{reason="limit"}: +1');

	$_->close for $org, $public, $resumed, $third;
	ok(eventually(sub { $stream->('org') == $base_org && $stream->('public') == $base_public }, 5),
		'closed streams leave both gauges');
};

subtest 'Redis down and back: publish failures, errors, reconnect and catch-up' => sub {
	my $org = stream_ok($s, '/v1/incidents/stream', 'an org stream', key => $R, fresh_id => current_seq($s));
	my $before = scrape();
	$s->stop_redis;
	my $inc = create('while Redis is down');
	my $down = scrape();
	is(val($down, 'incidentd_publish_failures_total') - val($before, 'incidentd_publish_failures_total'),
		1, 'publish failures: +1 (the create still answered 201)');
	cmp_ok(val($down, 'incidentd_redis_errors_total'), '>', val($before, 'incidentd_redis_errors_total'),
		'Redis errors counted');
	$s->start_redis;
	my $slow = 10 * IncidentdTest::slowdown();
	ok(eventually(sub { val(scrape(), 'incidentd_sse_redis_reconnects_total')
			> val($before, 'incidentd_sse_redis_reconnects_total') }, $slow),
		'incidentd-sse: redis reconnects +1');
	my $e = $org->next_event($slow);
	is($e && $e->{data}{incident}{id}, $inc->{id}, 'the stream still gets the event');
	cmp_ok(val(scrape(), 'incidentd_sse_catchups_total'), '>', val($before, 'incidentd_sse_catchups_total'),
		'from a catch-up of the event log');
	$org->close;
};

subtest 'PostgreSQL connections lost: database errors counted, requests still answered' => sub {
	my $inc = create('db');
	my $before = scrape();
	$s->psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
		. "WHERE application_name = 'incidentd' AND datname = current_database()");
	my @status;
	ok(eventually(sub {
		push @status, $s->req(GET => "/v1/tickets/$inc->{id}", key => $R)->{status};
		val(scrape(), 'incidentd_db_errors_total') > val($before, 'incidentd_db_errors_total');
	}, 10 * IncidentdTest::slowdown()), 'incidentd_db_errors_total went up');
	is_deeply([grep { $_ != 200 } @status], [], 'every request was still answered 200 (' . @status . ')');
};

$s->finish;

# ---------------------------------------------------------------- max_requests

# One worker replaced every 5 requests: each replacement takes over the
# slot of the one before, so the counts stay exact.
$s = IncidentdTest->new(workers => 1, config => { max_requests => 5 });
%last = ();

subtest 'workers replaced after max_requests keep adding to the same counts' => sub {
	my $before = scrape();
	my $n = 12;
	my @status = map { $s->req(GET => '/healthz')->{status} } 1 .. $n;
	is_deeply([grep { $_ != 200 } @status], [], "$n health checks answered 200");
	my $after = scrape();
	# the first scrape is counted once it was answered: it shows in the second
	is(requests($after, '/healthz', 200) - requests($before, '/healthz', 200), $n, "/healthz 200: +$n");
	is(requests($after, '/metrics', 200) - requests($before, '/metrics', 200), 1, '/metrics 200: +1');
	is(timed($after, '/healthz') - timed($before, '/healthz'), $n, "its histogram _count: +$n");
	ok(eventually(sub { val(scrape(), 'incidentd_worker_restarts_total', reason => 'max_requests')
			- val($before, 'incidentd_worker_restarts_total', reason => 'max_requests') >= 2 },
			10 * IncidentdTest::slowdown()),
		'restarts{reason="max_requests"}: at least 2 more (14 requests, 5 each)');
	is(val(scrape(), 'incidentd_worker_restarts_total', reason => 'died'), 0, 'restarts{reason="died"}: 0');
	is(val(scrape(), 'incidentd_workers'), 1, 'incidentd_workers 1');
};

ok($scrapes > 30, "$scrapes scrapes in all");
is_deeply(\@backwards, [], 'no counter or histogram series ever went backwards between two scrapes')
    or diag(join "\n", @backwards);

$s->finish;
done_testing;
