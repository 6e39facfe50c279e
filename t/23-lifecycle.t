#!/usr/bin/perl
# Status lifecycle, SLA (configured targets, recompute, freeze), the timeline,
# no-op updates, PUT = PATCH, and the event log written by every change.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::Local qw(timegm);
use JSON::PP ();
use HTTP::Tiny;
use POSIX ();
use IncidentdTest;
use OpenAPICheck;

# Configured targets: urgent 30 minutes, high 7200 seconds; normal and low keep their defaults.
my $s = IncidentdTest->new(config => { sla_urgent => '30m', sla_high => '7200' });
my $W = $s->key('write');
my $T0 = timegm(0, 0, 7, 15, 2, 2026);    # 2026-03-15T07:00:00Z
my @events;                                 # [type, incident_id] of every write, in order

# Seconds after T0 as a timestamp.
sub ts { my @t = gmtime($T0 + $_[0]); sprintf '%04d-%02d-%02dT%02d:%02d:%02dZ', $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0] }
sub call {
  my ($method, $path, $body, $min) = @_;
  my $r = $s->req($method, $path, key => $W, defined $body ? (body => $body) : (),
                  headers => { 'X-Test-Now' => int($T0 + 60 * ($min // 0) + 0.5) });
  response_ok($r, $method, $path, "$method $path -> $r->{status} per openapi.json");
  return $r;
}
sub create { my ($body, $min) = @_; my $r = call(POST => '/v1/tickets', $body, $min);
  is($r->{status}, 201, "create '$body->{title}'") or diag($r->{content});
  push @events, ['incident.created', $r->{json}{id}]; $r->{json} }
sub patch { my ($id, $body, $min, $method) = @_; my $r = call($method // 'PATCH', "/v1/tickets/$id", $body, $min);
  is($r->{status}, 200, 'PATCH ' . JSON::PP->new->canonical->encode($body)) or diag($r->{content}); $r->{json} }
sub get { my ($id, $min) = @_; call(GET => "/v1/tickets/$id", undef, $min)->{json} }
sub replies { my ($id) = @_; call(GET => "/v1/tickets/$id/replies")->{json}{replies} || [] }
sub sql_json {
  my ($sql) = @_;
  my $out = $s->psql("SELECT coalesce(json_agg(q), '[]'::json) FROM ($sql) q");
  $out =~ s/^\s+|\s+$//g;
  my $v = eval { JSON::PP->new->utf8->decode($out) };
  diag("cannot decode psql output: $out") unless $v;
  return $v || [];
}
my (undef, $keys) = $s->incidentctl('key', 'list', '--org', $s->org_name);
my ($author) = map { (split /\t/)[2] } grep { ((split /\t/)[1] // '') eq 'write' } split /\n/, $keys;

# --- status phases: acknowledged_at and resolved_at ------------------------------------------
my $a = create({ title => 'Lifecycle', status => 'new' }, 0);
is_deeply([$a->{acknowledged_at}, $a->{resolved_at}], [undef, undef], 'new: nothing acknowledged or resolved');
is(patch($a->{id}, { status => 'open' }, 1)->{acknowledged_at}, undef, 'open does not acknowledge');
push @events, ['incident.updated', $a->{id}];
my $x = patch($a->{id}, { status => 'investigating' }, 2);
push @events, ['incident.updated', $a->{id}];
is($x->{acknowledged_at}, ts(120), 'investigating sets acknowledged_at');
$x = patch($a->{id}, { status => 'identified' }, 3);
push @events, ['incident.updated', $a->{id}];
is($x->{acknowledged_at}, ts(120), 'acknowledged_at not changed by later statuses');
$x = patch($a->{id}, { status => 'resolved' }, 4);
push @events, ['incident.updated', $a->{id}];
is($x->{resolved_at}, ts(240), 'resolved sets resolved_at');
is($x->{acknowledged_at}, ts(120), 'resolving keeps acknowledged_at');
$x = patch($a->{id}, { status => 'postmortem' }, 5);
push @events, ['incident.updated', $a->{id}];
is($x->{resolved_at}, ts(240), 'moving within the resolved phase keeps resolved_at');
$x = patch($a->{id}, { status => 'acknowledged' }, 6);
push @events, ['incident.updated', $a->{id}];
is($x->{resolved_at}, undef, 'reopening clears resolved_at');
is($x->{acknowledged_at}, ts(120), 'reopening keeps the first acknowledged_at');
$x = patch($a->{id}, { status => 'closed' }, 7);
push @events, ['incident.updated', $a->{id}];
is($x->{resolved_at}, ts(420), 'closing sets resolved_at again');
is_deeply([map { $_->{status} } @{ replies($a->{id}) }],
          [qw(open investigating identified resolved postmortem acknowledged closed)], 'one timeline entry per status change');

my $ack = create({ title => 'Born acknowledged', status => 'in_progress' }, 10);
is($ack->{acknowledged_at}, ts(600), 'created in an acknowledging status: acknowledged_at = created_at');
my $res = create({ title => 'Born resolved', status => 'resolved' }, 10);
is($res->{resolved_at}, ts(600), 'created resolved: resolved_at = created_at');

# Explicit timestamps.
my $e = create({ title => 'Explicit' }, 0);
$x = patch($e->{id}, { acknowledged_at => ts(5) }, 20);
push @events, ['incident.updated', $e->{id}];
is($x->{acknowledged_at}, ts(5), 'explicit acknowledged_at');
$x = patch($e->{id}, { status => 'monitoring' }, 21);
push @events, ['incident.updated', $e->{id}];
is($x->{acknowledged_at}, ts(5), 'an explicit acknowledged_at is not overwritten by a later status');
$x = patch($e->{id}, { status => 'resolved', resolved_at => ts(15) }, 30);
push @events, ['incident.updated', $e->{id}];
is($x->{resolved_at}, ts(15), 'explicit resolved_at on resolution');
$x = patch($e->{id}, { resolved_at => ts(16) }, 31);
push @events, ['incident.updated', $e->{id}];
is($x->{resolved_at}, ts(16), 'resolved_at can be corrected while resolved');
$x = patch($a->{id}, { acknowledged_at => undef }, 8);
push @events, ['incident.updated', $a->{id}];
is($x->{acknowledged_at}, undef, 'acknowledged_at: null clears it');
my $rn = call(PATCH => "/v1/tickets/$e->{id}", { resolved_at => undef }, 32);
is($rn->{status}, 422, 'resolved_at cannot be null in the resolved phase');
is($rn->{json}{errors}[0]{source}{field}, 'resolved_at', '... source.field resolved_at');
my $ra = call(PATCH => "/v1/tickets/$a->{id}", { status => 'open', resolved_at => ts(1) }, 33);
is($ra->{status}, 422, 'resolved_at together with reopening is refused');
is(get($a->{id})->{status}, 'closed', '... and nothing changed');

# --- SLA: configured targets, recompute on priority change, freeze on resolution -------------------
my %target = (urgent => 30 * 60, high => 7200, normal => 24 * 3600, low => 72 * 3600);
for my $p (sort keys %target) {
  my $i = create({ title => "SLA $p", priority => $p }, 0);
  is($i->{sla_due_at}, ts($target{$p}), "$p: sla_due_at = created_at + $target{$p}s");
}
my $u = create({ title => 'SLA urgent window' }, 0);
$x = patch($u->{id}, { priority => 'urgent' }, 0);
push @events, ['incident.updated', $u->{id}];
is($x->{sla_due_at}, ts(1800), 'priority change to urgent recomputes sla_due_at from created_at');
is(get($u->{id}, 22)->{sla_status}, 'ok', 'urgent at 22m (< 75 % of 30m): ok');
is(get($u->{id}, 22.5)->{sla_status}, 'warning', 'urgent at 22m30s (75 %): warning');
is(get($u->{id}, 30)->{sla_status}, 'warning', 'urgent at 30m: warning (not yet past)');
my $br = get($u->{id}, 30 + 1 / 60);
is_deeply([$br->{sla_status}, !!$br->{sla_breached}], ['breached', 1], 'urgent at 30m01s: breached');
$x = patch($u->{id}, { priority => 'high' }, 31);
push @events, ['incident.updated', $u->{id}];
is_deeply([$x->{sla_due_at}, $x->{sla_status}], [ts(7200), 'ok'], 'priority high later: due created_at + 2h, ok again');
$x = patch($u->{id}, { priority => 'low' }, 32);
push @events, ['incident.updated', $u->{id}];
is($x->{sla_due_at}, ts(72 * 3600), 'priority low: due created_at + 72h');
is_deeply([map { $_->{status} } @{ replies($u->{id}) }], [], 'priority changes append no timeline entry');

for my $case ([10, 'ok', 0], [25, 'warning', 0], [40, 'breached', 1]) {
  my ($min, $frozen, $breached) = @$case;
  my $i = create({ title => "freeze at $min", priority => 'urgent' }, 0);
  $x = patch($i->{id}, { status => 'resolved' }, $min);
  push @events, ['incident.updated', $i->{id}];
  is($x->{sla_status}, $frozen, "resolved at ${min}m: sla_status $frozen");
  my $later = get($i->{id}, 600);
  is_deeply([$later->{sla_status}, !!$later->{sla_breached}], [$frozen, !!$breached], "10 hours later still $frozen (frozen)");
  next unless $min == 10;
  $x = patch($i->{id}, { status => 'open' }, 600);
  push @events, ['incident.updated', $i->{id}];
  is_deeply([$x->{sla_status}, !!$x->{sla_breached}], ['breached', 1], 'reopened: computed at now again (breached)');
}

# --- the timeline: status and message -----------------------------------------------------------
my $t = create({ title => 'Timeline' }, 0);
my $n0 = scalar @{ replies($t->{id}) };
is($n0, 0, 'a new incident has no timeline');
patch($t->{id}, { status => 'investigating' }, 1);
push @events, ['incident.updated', $t->{id}];
patch($t->{id}, { message => 'Still looking.' }, 2);
push @events, ['incident.updated', $t->{id}];
patch($t->{id}, { status => 'identified', message => 'Found it.' }, 3);
push @events, ['incident.updated', $t->{id}];
patch($t->{id}, { message => undef, description => 'no entry' }, 4);
push @events, ['incident.updated', $t->{id}];
my $tl = replies($t->{id});
is_deeply([map { [@$_{qw(status body)}, !!$_->{internal}, $_->{author}, $_->{created_at}] } @$tl],
          [['investigating', undef, '', $author, ts(60)], [undef, 'Still looking.', '', $author, ts(120)],
           ['identified', 'Found it.', '', $author, ts(180)]],
          'timeline entries: status / body / internal false / author = key name / time');
is(get($t->{id})->{updated_at}, ts(240), 'a message-only PATCH and a field PATCH move updated_at');

# --- no-op PATCH writes nothing ----------------------------------------------------------------
my $before = get($t->{id}, 300);
for my $noop ({}, { status => 'identified' }, { title => 'Timeline', priority => 'normal' }, { message => undef },
              { description => 'no entry', tags => [] }, { title => '  Timeline  ' }) {
  my $r = call(PATCH => "/v1/tickets/$t->{id}", $noop, 300);
  is($r->{status}, 200, 'no-op PATCH ' . JSON::PP->new->canonical->encode($noop) . ': 200');
  is_deeply($r->{json}, $before, '... returns the unchanged incident (updated_at too)');
}
is(scalar @{ replies($t->{id}) }, 3, 'no-op PATCHes append no timeline entry');

patch($t->{id}, { status => 'identified', message => 'Same status.' }, 305);
push @events, ['incident.updated', $t->{id}];
is_deeply([@{ replies($t->{id})->[-1] || {} }{qw(status body)}], [undef, 'Same status.'],
          'a message with an unchanged status: entry status null');

# --- PUT has the same partial semantics ------------------------------------------------------
my $pu = patch($t->{id}, { priority => 'low' }, 310, 'PUT');
push @events, ['incident.updated', $t->{id}];
is_deeply([@$pu{qw(priority title description status)}], ['low', 'Timeline', 'no entry', 'identified'],
          'PUT changes only the given fields');
my $pn = call(PUT => "/v1/tickets/$t->{id}", {}, 320);
is_deeply($pn->{json}, get($t->{id}, 320), 'PUT {} is a no-op too');
my $pm = patch($t->{id}, { status => 'monitoring', message => 'Watching.' }, 330, 'PUT');
push @events, ['incident.updated', $t->{id}];
is_deeply([@{ replies($t->{id})->[-1] }{qw(status body)}], ['monitoring', 'Watching.'], 'PUT appends a timeline entry like PATCH');

# --- deletes and the event log -------------------------------------------------------------------
my $d = call(DELETE => "/v1/tickets/$res->{id}");
is($d->{status}, 204, 'delete');
push @events, ['incident.deleted', $res->{id}];

my $rows = sql_json('SELECT seq, type, incident_id, payload FROM events WHERE org_id = ' . $s->org_id . ' ORDER BY seq');
is(scalar @$rows, scalar @events, 'one event row per write, none for no-ops (' . scalar(@events) . ')');
is_deeply([map { [$_->{type}, $_->{incident_id}] } @$rows], \@events, 'event types and incidents in order of the writes');
my @seq = map { $_->{seq} } @$rows;
is_deeply(\@seq, [1 .. scalar @events], 'seq runs 1, 2, 3, ... for the organisation');
my $org = sql_json('SELECT event_seq FROM orgs WHERE id = ' . $s->org_id);
is($org->[0]{event_seq}, $seq[-1], 'orgs.event_seq equals the last seq');
my ($first_upd) = grep { $_->{type} eq 'incident.updated' && $_->{incident_id} == $a->{id} } @$rows;
is_deeply($first_upd->{payload}{changes}, { status => [qw(new open)] }, 'updated payload: changes {field: [old, new]}');
is($first_upd->{payload}{incident}{status}, 'open', 'updated payload: the incident after the change');
my ($created) = grep { $_->{type} eq 'incident.created' } @$rows;
is($created->{payload}{incident}{id}, $a->{id}, 'created payload: the incident');
my ($msg) = grep { $_->{type} eq 'incident.updated' && $_->{payload}{reply} && ($_->{payload}{reply}{body} // '') eq 'Still looking.' } @$rows;
ok($msg, 'a message-only update carries the reply');
is_deeply($msg && $msg->{payload}{changes}, {}, '... with changes {}');
my ($prio) = grep { $_->{type} eq 'incident.updated' && $_->{payload}{changes}{priority} } @$rows;
is_deeply($prio && $prio->{payload}{changes}{priority}, [qw(normal urgent)], 'a priority change lists priority [old, new]');
my ($del) = grep { $_->{type} eq 'incident.deleted' } @$rows;
is_deeply($del && $del->{payload}, { incident_id => $res->{id} }, 'deleted payload: {incident_id}');

# --- concurrent writers: the sequence stays gapless and in step with orgs.event_seq ----------------------
my $base = $seq[-1] // 0;
my ($writers, $each) = (4, 10);
my @kids;
for my $w (1 .. $writers) {
  my $pid = fork // die "fork: $!";
  if (!$pid) {
    my $http = HTTP::Tiny->new(timeout => 20, keep_alive => 0);
    my $ok = 0;
    for my $i (1 .. $each) {
      my $r = $http->post($s->url . '/v1/tickets', { headers => { 'x-api-key' => $W, 'Content-Type' => 'application/json' },
                                                     content => qq({"title":"concurrent $w.$i"}) });
      $ok++ if $r->{status} == 201;
    }
    POSIX::_exit($ok == $each ? 0 : 1);
  }
  push @kids, $pid;
}
my $failed = grep { waitpid($_, 0) == $_ && $? != 0 } @kids;
is($failed, 0, "$writers concurrent writers each created $each incidents");
my $conc = sql_json("SELECT seq, type FROM events WHERE org_id = " . $s->org_id . " AND seq > $base ORDER BY seq");
is_deeply([map { $_->{seq} } @$conc], [$base + 1 .. $base + $writers * $each], 'concurrent writes: seq has no gap and no duplicate');
is_deeply([grep { $_->{type} ne 'incident.created' } @$conc], [], '... all incident.created');
is(sql_json('SELECT event_seq FROM orgs WHERE id = ' . $s->org_id)->[0]{event_seq}, $base + $writers * $each,
   '... and orgs.event_seq is the last of them');

$s->finish;
done_testing;
