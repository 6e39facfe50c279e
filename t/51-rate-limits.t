#!/usr/bin/env perl
# Request-rate limits in nginx (nginx/incidentd-limits.conf, applied by the API
# locations of incidentd-locations.conf): per API key, reads and writes
# counted apart, and per client address; past a limit, 429 in DESIGN §3's
# envelope with Retry-After and X-Request-Id.
#
# Two stacks. One runs production's limits: an alert storm (2,000 creates
# from one key as fast as four connections can send them) gets at least half
# accepted and nothing but 201 or 429; odd keys (very long, non-ASCII) get a
# clean 401. The other runs production's bursts with every rate slowed to
# nginx's slowest, one request a minute: a bucket of burst B refills one
# request 60 s after the first of the B requests that spent it, so a subtest
# that empties one with a flood of a few seconds finds it empty while it
# looks: per-key isolation, reads apart from writes, the per-address limit,
# an odd key flooded to its 429. Last, no key reached a log.
#
# Requests go over raw sockets (HTTP::Tiny refuses the odd bytes), each from
# a loopback address of its own subtest (127.0.0.N: every one reaches nginx
# on 127.0.0.1), so one subtest's address bucket never limits another's.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use FindBin qw($Bin);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep time);

use lib 't/lib';
use IncidentdTest;
use OpenAPICheck qw(response_errors);

my $JSON = JSON::PP->new->utf8->canonical;
my $SLOW = IncidentdTest::slowdown();

# Production's bursts, from the config this test exercises.
my %BURST = do {
	my $conf = slurp("$Bin/../nginx/incidentd-locations.conf");
	map { my $z = $_; ($z => ($conf =~ /zone=incidentd_$z burst=(\d+)/)[0] // die "no burst for $z\n") }
	    qw(key_writes key_reads addresses);
};

my $STORM = 2000;
my $CREATE = $JSON->encode({ title => 'Unit 3 unresponsive', priority => 'urgent', source => 'alert' });

my $p = IncidentdTest->new(workers => 2, rate_limits => 1);
my $q = IncidentdTest->new(workers => 2, rate_limits => 1 / 20_000);    # 200 r/s -> 1 r/m
my %used_keys;    # every key sent, for the log check: label => bytes

# ---------------------------------------------------------------- helpers

sub slurp {
	my ($file) = @_;
	open my $fh, '<:raw', $file or return '';
	local $/;
	return scalar <$fh>;
}

# One request over a fresh connection from local address $from, sent as the
# bytes given; headers are [name, value] pairs. Returns {status, headers
# (lower-case names), content, json}; status 599 with {error} when the
# exchange failed (no answer, a reset), as HTTP::Tiny reports it.
sub raw_req {
	my ($s, $from, $method, $path, $headers, $body) = @_;
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $s->port,
		LocalAddr => $from, Proto => 'tcp', Timeout => 10 * $SLOW)
	    or return { status => 599, error => "connect: $!" };
	my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
	$req .= "$_->[0]: $_->[1]\r\n" for @$headers;
	$req .= "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n" if defined $body;
	$req .= "\r\n" . ($body // '');
	while (length $req) {
		my $n = syswrite($sock, $req);
		return { status => 599, error => "write: $!" } unless defined $n;
		substr($req, 0, $n, '');
	}
	my ($buf, $deadline, $sel) = ('', time + 10 * $SLOW, IO::Select->new($sock));
	while (1) {
		return { status => 599, error => 'timeout' } if time > $deadline;
		next unless $sel->can_read(1);
		my $n = sysread($sock, $buf, 65536, length $buf);
		return { status => 599, error => "read: $!" } unless defined $n;
		last if $n == 0;
	}
	return parse_response($buf);
}

sub parse_response {
	my ($buf) = @_;
	my ($head, $body) = split /\r\n\r\n/, $buf, 2;
	my ($status) = ($head // '') =~ m{^HTTP/1\.[01] (\d{3})}
	    or return { status => 599, error => 'no status line: ' . substr($buf, 0, 100) };
	my %h;
	for (split /\r\n/, $head) {
		$h{ lc $1 } = $2 if /^([^:\s]+):\s*(.*?)\s*$/;
	}
	$body //= '';
	$body = dechunk($body) if lc($h{'transfer-encoding'} // '') eq 'chunked';
	my $json = ($h{'content-type'} // '') =~ m{^application/json} ? eval { $JSON->decode($body) } : undef;
	return { status => $status, headers => \%h, content => $body, json => $json };
}

sub dechunk {
	my ($body) = @_;
	my $out = '';
	while ($body =~ s/^([0-9a-fA-F]+)[^\r]*\r\n//) {
		my $len = hex $1;
		last if $len == 0;
		$out .= substr($body, 0, $len, '');
		$body =~ s/^\r\n//;
	}
	return $out;
}

# Everything wrong with one 429: the envelope, Retry-After, X-Request-Id.
sub limit_problems {
	my ($r) = @_;
	my $j = $r->{json} || {};
	my @e;
	push @e, "status $r->{status}" unless $r->{status} == 429;
	push @e, 'not the rate_limit_error envelope: ' . substr($r->{content} // '', 0, 200)
	    unless ($j->{type} // '') eq 'rate_limit_error' && ($j->{status} // 0) == 429
	    && join(',', map { $_->{code} } @{ $j->{errors} || [] }) eq 'rate_limited';
	push @e, 'Retry-After ' . ($r->{headers}{'retry-after'} // 'missing') . ', not 1'
	    unless ($r->{headers}{'retry-after'} // '') eq '1';
	my $rid = $r->{headers}{'x-request-id'};
	push @e, 'request_id differs from X-Request-Id'
	    unless defined $rid && length $rid && ($j->{request_id} // '') eq $rid;
	return @e;
}

sub limited_ok {
	my ($r, $name) = @_;
	my @e = limit_problems($r);
	ok(!@e, "$name: 429 rate_limited, Retry-After: 1") or diag(join "\n", @e);
}

sub status_is {
	my ($r, $want, $name) = @_;
	is($r->{status}, $want, $name) or diag($r->{error} // $r->{content});
}

# $n requests from $conc processes at once, each sending its share one after
# another as fast as it can, from local address $from; $make->($i) gives
# [method, path, headers, body]. The processes only send and record; every
# response is checked against openapi.json afterwards. Returns {count =>
# {status => n}, problems => [...], sent => n, seconds => the sending time}.
sub fire {
	my ($s, $from, $n, $conc, $make) = @_;
	my $dir = tempdir('fire-XXXXXX', DIR => $s->dir);
	my $t0 = time;
	my @pids;
	for my $c (0 .. $conc - 1) {
		my $pid = fork // die "fork: $!";
		if (!$pid) {
			open my $out, '>:raw', "$dir/$c" or POSIX::_exit(1);
			for (my $i = $c; $i < $n; $i += $conc) {
				my $r = raw_req($s, $from, @{ $make->($i) });
				delete $r->{json};
				print $out $JSON->encode({ i => $i, r => $r }), "\n";
			}
			close $out or POSIX::_exit(1);
			POSIX::_exit(0);
		}
		push @pids, $pid;
	}
	waitpid($_, 0) for @pids;
	my %res = (count => {}, problems => [], seconds => time - $t0);
	my @lines = map { split /\n/, slurp("$dir/$_") } 0 .. $conc - 1;
	for my $l (sort { $a->{i} <=> $b->{i} } map { $JSON->decode($_) } @lines) {
		my ($r, $i) = ($l->{r}, $l->{i});
		my ($method, $path) = @{ $make->($i) };
		$r->{json} = eval { $JSON->decode($r->{content}) } if ($r->{headers}{'content-type'} // '') =~ /json/;
		$res{count}{ $r->{status} }++;
		my @e = $r->{status} == 599 ? ("socket error: $r->{error}") : response_errors($r, $method, $path);
		push @e, limit_problems($r) if $r->{status} == 429;
		push @{ $res{problems} }, map { "request $i: $r->{status}: $_" } @e;
	}
	$res{sent} = @lines;
	return \%res;
}

sub counts { my ($c) = @_; join ', ', map { "$c->{$_} x $_" } sort keys %$c }

sub req {
	my ($s, $from, $method, $path, $headers, $body) = @_;
	return raw_req($s, $from, $method, $path, $headers // [], $body);
}

sub key_header { [ [ 'x-api-key', $_[0] ] ] }

# $len characters of random hex: a long key whose every part is its own.
sub rand_hex { substr(join('', map { sprintf '%08x', int rand 2**32 } 0 .. $_[0] / 8), 0, $_[0]) }

# Empties the write bucket of $key from $from: burst + a few writes that
# incidentd answers 422 (an empty title: no incident, no event).
sub empty_writes {
	my ($s, $from, $key) = @_;
	my $n = $BURST{key_writes} + 20;
	return fire($s, $from, $n, 4, sub { [ POST => '/v1/tickets', key_header($key), '{"title":""}' ] });
}

# ---------------------------------------------------------------- production's limits

SKIP: {
	# memcheck makes 2,000 creates take minutes, so the rate refills the
	# bucket faster than the storm empties it; the other subtests run.
	skip 'the storm needs full speed (not under valgrind)', 2 if IncidentdTest::valgrind();

	my $W = $p->key('write');
	$used_keys{'storm key'} = $W;
	my $storm;
	subtest "alert storm: $STORM creates from one key at once, at least half accepted" => sub {
		$storm = fire($p, '127.0.0.1', $STORM, 4, sub { [ POST => '/v1/tickets', key_header($W), $CREATE ] });
		my %c = %{ $storm->{count} };
		diag(sprintf 'storm: %s in %.2f s', counts(\%c), $storm->{seconds});
		is($storm->{sent}, $STORM, "$STORM answers");
		is_deeply([ grep { $_ != 201 && $_ != 429 } sort keys %c ], [], 'nothing but 201 and 429 (no 5xx, no socket error)');
		cmp_ok($c{201} // 0, '>=', $STORM / 2, 'at least half accepted');
		cmp_ok($c{429} // 0, '>', 0, 'the rest refused: the limit is on');
		is_deeply($storm->{problems}, [], 'every answer per openapi.json; every 429 the envelope with Retry-After and X-Request-Id')
		    or diag(join "\n", @{ $storm->{problems} }[0 .. 9]);
		is($p->psql('SELECT count(*) FROM incidents WHERE org_id = ' . $p->org_id), ($c{201} // 0) . "\n",
			'one incident per 201, none for a 429');
	};

	subtest 'a refused sender that waits Retry-After is served' => sub {
		my ($r, $waited);
		for (1 .. 3) {    # the storm's last seconds may still be refilling the bucket
			$r = req($p, '127.0.0.1', POST => '/v1/tickets', key_header($W), $CREATE);
			last unless $r->{status} == 429;
			$waited = $r->{headers}{'retry-after'};
			sleep $waited;    # what the client is told to do, not a synchronisation
		}
		status_is($r, 201, 'created' . (defined $waited ? " after waiting $waited s" : ''));
	};
}

subtest 'odd keys get a clean 401, never a 5xx' => sub {
	my %odd = (
		'a 6,000-byte key' => rand_hex(6000),
		'a non-ASCII key' => "\xff\xfe\x80\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87-" . rand_hex(40),
		'a key with inner spaces, quotes and backslashes' => 'abc def' . "\t" . '"\\' . rand_hex(30),
		'a real key with bytes after it' => $p->key('read') . rand_hex(100),
	);
	for my $label (sort keys %odd) {
		my $k = $odd{$label};
		$used_keys{$label} = $k;
		for my $h ([ [ 'x-api-key', $k ] ], [ [ 'Authorization', "Bearer $k" ] ]) {
			my $r = req($p, '127.0.0.3', POST => '/v1/tickets', $h, $CREATE);
			status_is($r, 401, "$label in $h->[0][0]: 401");
			is(($r->{json} || {})->{type}, 'authentication_error', '... in the envelope');
			is_deeply([ response_errors($r, POST => '/v1/tickets') ], [], '... per openapi.json');
		}
	}
	my $huge = rand_hex(20000);
	$used_keys{'a 20,000-byte key'} = $huge;
	my $r = req($p, '127.0.0.3', POST => '/v1/tickets', key_header($huge), $CREATE);
	status_is($r, 400, 'a key larger than nginx takes in a header: 400, not a 5xx');
	is_deeply([ response_errors($r, POST => '/v1/tickets') ], [], '... in the envelope, per openapi.json');
};

# ---------------------------------------------------------------- slowed rates

my ($A, $B, $R) = map { $q->key($_) } qw(write admin read);
my $other = $q->new_org('other');
my $C = $other->{keys}{write};
@used_keys{ 'key A', 'key B', 'key R', 'key C' } = ($A, $B, $R, $C);

subtest 'per key: A refused once its writes are spent, B and C served, A still reads' => sub {
	my $f = empty_writes($q, '127.0.0.4', $A);
	cmp_ok($f->{count}{422} // 0, '>=', $BURST{key_writes}, "A's burst of writes went through: " . counts($f->{count}));
	cmp_ok($f->{count}{429} // 0, '>', 0, 'then 429');
	is_deeply($f->{problems}, [], 'every answer per openapi.json') or diag(join "\n", @{ $f->{problems} }[0 .. 9]);

	my $from = '127.0.0.5';    # a fresh address: only the key's bucket is empty
	limited_ok(req($q, $from, POST => '/v1/tickets', key_header($A), $CREATE), 'A in x-api-key');
	limited_ok(req($q, $from, POST => '/v1/tickets', [ [ 'Authorization', "Bearer $A" ] ], $CREATE),
		'A as Authorization: Bearer (the same key, the same bucket)');
	limited_ok(req($q, $from, POST => '/v1/tickets', [ [ 'Authorization', "bEaReR   $A" ] ], $CREATE),
		'A after a Bearer in any case and several spaces');
	limited_ok(req($q, $from, POST => '/v1/tickets', [ [ 'x-api-key', '' ], [ 'Authorization', "Bearer $A" ] ], $CREATE),
		'A as Bearer with an empty x-api-key (incidentd reads the Bearer then)');
	limited_ok(req($q, $from, DELETE => '/v1/tickets/1', key_header($A)), 'a DELETE of A: a write too');
	status_is(req($q, $from, POST => '/v1/tickets', key_header($B), $CREATE), 201, 'B, the same org: 201');
	status_is(req($q, $from, POST => '/v1/tickets', key_header($C), $CREATE), 201, 'C, another org: 201');
	status_is(req($q, $from, POST => '/v1/tickets', [ [ 'x-api-key', $B ], [ 'Authorization', "Bearer $A" ] ], $CREATE),
		201, 'B in x-api-key with A as Bearer: x-api-key wins, as in incidentd');
	status_is(req($q, $from, GET => '/v1/tickets?limit=1', key_header($A)), 200, 'A reads: its reads are counted apart');
	status_is(req($q, $from, POST => '/compat/statly/api/v1/incidents', key_header($A), '{}'), 429,
		'the compatibility mounts share the buckets');
};

subtest 'reads: R refused once its reads are spent; other keys read on' => sub {
	my $n = $BURST{key_reads} + 20;
	my $f = fire($q, '127.0.0.6', $n, 4, sub { [ GET => '/v1/tickets?limit=1', key_header($R) ] });
	cmp_ok($f->{count}{200} // 0, '>=', $BURST{key_reads}, "R's burst of reads went through: " . counts($f->{count}));
	cmp_ok($f->{count}{429} // 0, '>', 0, 'then 429');
	is_deeply([ grep { $_ != 200 && $_ != 429 } keys %{ $f->{count} } ], [], 'nothing else');
	is_deeply($f->{problems}, [], 'every answer per openapi.json') or diag(join "\n", @{ $f->{problems} }[0 .. 9]);
	my $from = '127.0.0.7';
	limited_ok(req($q, $from, GET => '/v1/tickets?limit=1', key_header($R)), 'R reads');
	limited_ok(req($q, $from, GET => '/v1/incidents/1', [ [ 'Authorization', "Bearer $R" ] ]), 'R reads as Bearer');
	status_is(req($q, $from, POST => '/v1/tickets', key_header($R), $CREATE), 403,
		"R's write reaches incidentd (403: a read key), its write bucket is full");
	status_is(req($q, $from, GET => '/v1/tickets?limit=1', key_header($B)), 200, 'B reads');
};

subtest 'per address: everyone from an address refused once it spent its burst, other addresses served' => sub {
	my $from = '127.0.0.8';
	my $n = $BURST{addresses} + 20;
	# No key: incidentd answers 401 at once, and only the address counts.
	my $f = fire($q, $from, $n, 4, sub { [ GET => '/v1/tickets', [] ] });
	cmp_ok($f->{count}{401} // 0, '>=', $BURST{addresses}, "the address's burst went through: " . counts($f->{count}));
	cmp_ok($f->{count}{429} // 0, '>', 0, 'then 429');
	is_deeply([ grep { $_ != 401 && $_ != 429 } keys %{ $f->{count} } ], [], 'nothing else');
	is_deeply($f->{problems}, [], 'every answer per openapi.json') or diag(join "\n", @{ $f->{problems} }[0 .. 9]);
	my $fresh = $other->{keys}{admin};
	$used_keys{'key D'} = $fresh;
	limited_ok(req($q, $from, GET => '/v1/tickets', key_header($fresh)), 'a key never used before, from that address');
	limited_ok(req($q, $from, POST => '/v1/tickets', key_header($fresh), $CREATE), '... and its write');
	limited_ok(req($q, $from, GET => '/healthz'), '/healthz from that address');
	limited_ok(req($q, $from, GET => '/incidents/status/nosuchtoken'), 'a status page from that address');
	status_is(req($q, '127.0.0.9', GET => '/v1/tickets?limit=1', key_header($fresh)), 200,
		'the same key from another address: 200');
	status_is(req($q, '127.0.0.9', GET => '/v1/tickets'), 401, 'no key from another address: 401');
};

subtest 'an odd key flooded: 401 until its burst is spent, then 429, never a 5xx' => sub {
	my $odd = "\xff\xc3\x28 \\\"" . rand_hex(3000);    # invalid UTF-8, a space, a backslash, a quote
	$used_keys{'the flooded odd key'} = $odd;
	my $f = empty_writes($q, '127.0.0.10', $odd);
	cmp_ok($f->{count}{401} // 0, '>=', $BURST{key_writes}, '401 while the burst lasts: ' . counts($f->{count}));
	cmp_ok($f->{count}{429} // 0, '>', 0, 'then 429');
	is_deeply([ grep { $_ != 401 && $_ != 429 } keys %{ $f->{count} } ], [], 'nothing else');
	is_deeply($f->{problems}, [], 'every answer per openapi.json, every 429 with Retry-After')
	    or diag(join "\n", @{ $f->{problems} }[0 .. 9]);
};

# ---------------------------------------------------------------- logs

subtest 'no key reaches a log' => sub {
	my @logs = map {
		my $s = $_;
		map { [ $_, slurp($_) ] } map { $s->dir . "/$_" } qw(nginx/access.log nginx/error.log nginx.log)
	} $p, $q;
	my $errors = join '', map { $_->[1] } grep { $_->[0] =~ /error\.log$/ } @logs;
	like($errors, qr/limiting requests, excess: [\d.]+ by zone "incidentd_key_writes"/,
		'the error logs name the refusals (so the check below reads the right files)');
	my $access = join '', map { $_->[1] } grep { $_->[0] =~ /access\.log$/ } @logs;
	like($access, qr/"POST \/v1\/tickets HTTP\/1\.1" 429 /, 'the access logs list the 429s');
	push @logs, map { [ $_->dir . ' (incidentd log)', $_->log ] } $p, $q;
	for my $label (sort keys %used_keys) {
		# A long key's start or middle is as much a leak as the whole.
		my $k = $used_keys{$label};
		my @probes = length $k > 64 ? (substr($k, 0, 32), substr($k, length($k) / 2, 32)) : ($k);
		my @in = map { $_->[0] } grep { my $log = $_->[1]; grep { index($log, $_) >= 0 } @probes } @logs;
		is_deeply(\@in, [], "$label is in no log");
	}
};

$q->finish;
$p->finish;
done_testing;
