#!/usr/bin/perl
# Every committed change is published on Redis channel incidentd:org:<org_id>
# as the event of DESIGN §5 / DECISIONS; a Redis outage fails no request, and
# publishing resumes when Redis is back.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use Time::HiRes qw(time);
use ApiCall;
use IncidentdTest;
use OpenAPICheck;

my $s = IncidentdTest->new;
my $W = $s->key('write');
my $CHANNEL = 'incidentd:org:' . $s->org_id;
my $json = JSON::PP->new->utf8->canonical;

my $api = ApiCall->new($s, $W);
sub call { my ($method, $path, $body) = @_; return $api->call($method, $path, body => $body) }
sub events_after {
  my ($seq) = @_;
  my $out = $s->psql('SELECT coalesce(json_agg(q ORDER BY seq), \'[]\'::json) FROM (SELECT seq, type, incident_id, payload FROM events'
                     . ' WHERE org_id = ' . $s->org_id . " AND seq > $seq) q");
  return eval { $json->decode($out) } || do { diag("psql: $out"); [] };
}

# --- a minimal RESP client ---------------------------------------------------------------------
sub redis_subscribe {
  my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $s->redis_port, Proto => 'tcp', Timeout => 5)
    or die "connect to Redis: $!";
  my $c = { sock => $sock, buf => '' };
  print $sock "*2\r\n\$9\r\nSUBSCRIBE\r\n\$" . length($CHANNEL) . "\r\n$CHANNEL\r\n";
  my $ack = resp_read($c, 5);
  is_deeply($ack, ['subscribe', $CHANNEL, 1], "subscribed to $CHANNEL");
  return $c;
}
# One RESP value from $$buf at $pos: (value, next position), or () if incomplete.
sub resp_parse {
  my ($buf, $pos) = @_;
  my $eol = index($$buf, "\r\n", $pos);
  return () if $eol < 0;
  my ($type, $line) = (substr($$buf, $pos, 1), substr($$buf, $pos + 1, $eol - $pos - 1));
  my $next = $eol + 2;
  return ($line, $next) if $type eq '+' || $type eq ':';
  return ("ERR $line", $next) if $type eq '-';
  if ($type eq '$') {
    return (undef, $next) if $line < 0;
    return () if length($$buf) < $next + $line + 2;
    return (substr($$buf, $next, $line), $next + $line + 2);
  }
  die "unexpected RESP type '$type'" unless $type eq '*';
  my @items;
  for (1 .. $line) {
    my ($v, $p) = resp_parse($buf, $next) or return ();
    push @items, $v;
    $next = $p;
  }
  return (\@items, $next);
}
# The next RESP value, or undef after $timeout seconds.
sub resp_read {
  my ($c, $timeout) = @_;
  my $deadline = time + $timeout;
  my $sel = IO::Select->new($c->{sock});
  while (1) {
    my ($v, $p) = resp_parse(\$c->{buf}, 0);
    if (defined $p) {
      substr($c->{buf}, 0, $p, '');
      return $v;
    }
    my $left = $deadline - time;
    return undef if $left <= 0 || !$sel->can_read($left);
    my $n = sysread($c->{sock}, $c->{buf}, 65536, length $c->{buf});
    return undef unless $n;
  }
}
# The next published event on the channel, decoded; undef if none within $timeout.
sub next_event {
  my ($c, $timeout) = @_;
  my $m = resp_read($c, $timeout // 5) or return undef;
  is_deeply([@$m[0, 1]], ['message', $CHANNEL], 'a message on the org channel') or return undef;
  my $e = eval { $json->decode($m->[2]) };
  ok($e, 'the message is JSON') or diag($m->[2]);
  return $e;
}
sub envelope_ok {
  my ($e, $type, $seq, $name) = @_;
  is($e->{type}, $type, "$name: type $type");
  is($e->{seq}, $seq, "$name: seq $seq");
  like($e->{at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\z/, "$name: at is a timestamp");
}
sub strip_envelope { my %p = %{ $_[0] || {} }; delete @p{qw(type seq at)}; \%p }

my $sub = redis_subscribe();
my $seq0 = $s->psql('SELECT event_seq FROM orgs WHERE id = ' . $s->org_id) + 0;

# --- create, update, reply, delete: four messages in order ---------------------------------------
my $c = call(POST => '/v1/tickets', { title => 'Published', priority => 'urgent' });
is($c->{status}, 201, 'create');
my $id = $c->{json}{id};
my $e1 = next_event($sub) || {};
envelope_ok($e1, 'incident.created', $seq0 + 1, 'created');
is_deeply([sort keys %$e1], [qw(at incident seq type)], 'created: type, seq, at, incident');
is_deeply($e1->{incident}, $c->{json}, 'created: the incident as the API returned it');

my $u = call(PATCH => "/v1/tickets/$id", { status => 'in_progress', priority => 'high' });
is($u->{status}, 200, 'update');
my $e2 = next_event($sub) || {};
envelope_ok($e2, 'incident.updated', $seq0 + 2, 'updated');
is_deeply($e2->{incident}, $u->{json}, 'updated: the incident after the change');
is_deeply([@{ $e2->{changes} || {} }{qw(status priority)}], [[qw(open in_progress)], [qw(urgent high)]],
          'updated: changes {field: [old, new]}');
ok(exists $e2->{reply} && $e2->{reply}{status} eq 'in_progress', 'updated: the timeline entry of the status change')
  or diag(explain($e2));

is(call(PATCH => "/v1/tickets/$id", { status => 'in_progress' })->{status}, 200, 'a no-op PATCH (publishes nothing)');
my $r = call(POST => "/v1/incidents/$id/replies", { body => 'Published reply.' });
is($r->{status}, 201, 'reply');
my $e3 = next_event($sub) || {};
envelope_ok($e3, 'incident.reply', $seq0 + 3, 'reply');
is_deeply(strip_envelope($e3), { incident_id => $id, reply => $r->{json} }, 'reply: {incident_id, reply}');

my $other = $s->new_org('publish-b-' . $$);
is($s->req(POST => '/v1/tickets', key => $other->{keys}{write}, body => { title => 'Other org' })->{status}, 201,
   "another org's write (must not reach this channel)");
is(call(DELETE => "/v1/tickets/$id")->{status}, 204, 'delete');
my $e4 = next_event($sub) || {};
envelope_ok($e4, 'incident.deleted', $seq0 + 4, 'deleted');
is_deeply(strip_envelope($e4), { incident_id => $id }, 'deleted: {incident_id}');
is(resp_read($sub, 0.3), undef, 'nothing else was published on the channel');

my $rows = events_after($seq0);
is_deeply([map { $_->{seq} } @$rows], [map { $seq0 + $_ } 1 .. 4], 'the event log holds the same four events');
is_deeply([map { $_->{payload} } @$rows], [map { strip_envelope($_) } $e1, $e2, $e3, $e4],
          'stored payloads equal the published ones without type, seq and at');
is_deeply([map { $_->{type} } @$rows], [map { $_->{type} } $e1, $e2, $e3, $e4], 'stored types');

# --- Redis down: requests still succeed, events are still logged ---------------------------------
close $sub->{sock};
$s->stop_redis;
my $t0 = time;
my $down = call(POST => '/v1/tickets', { title => 'While Redis is down' });
my $took = time - $t0;
is($down->{status}, 201, 'create with Redis down: 201');
cmp_ok($took, '<', 3, sprintf('... answered promptly (%.2fs)', $took));
my $down_id = $down->{json}{id};
is(call(PATCH => "/v1/tickets/$down_id", { status => 'investigating' })->{status}, 200, 'update with Redis down: 200');
is(call(POST => "/v1/tickets/$down_id/replies", { body => 'still here' })->{status}, 201, 'reply with Redis down: 201');
my $logged = events_after($seq0 + 4);
is_deeply([map { [$_->{seq}, $_->{type}, $_->{incident_id}] } @$logged],
          [[$seq0 + 5, 'incident.created', $down_id], [$seq0 + 6, 'incident.updated', $down_id], [$seq0 + 7, 'incident.reply', $down_id]],
          'the events written while Redis was down are in the log, in sequence');
my $hz = $s->req(GET => '/healthz');
response_ok($hz, 'GET', '/healthz', '/healthz with Redis down per openapi.json');
is($hz->{status}, 503, '/healthz: 503 with Redis down');
is(($hz->{json} || {})->{postgres}, 'ok', '/healthz: postgres still ok');
isnt(($hz->{json} || {})->{redis}, 'ok', '/healthz: redis not ok');

# --- Redis back: publishing resumes ---------------------------------------------------------------
$s->start_redis;
$sub = redis_subscribe();
# Each worker waits a moment after a failed publish before reconnecting
# (DESIGN: such events reach streams by catch-up from the log), and any
# worker may take a write: publishing has resumed once every write of a run
# of four is published, each with the next seq and its own incident.
my ($streak, $writes, $prev) = (0, 0, undef);
my $deadline = time + 15;
while ($streak < 4 && time < $deadline) {
  $writes++;
  my $r = call(PATCH => "/v1/tickets/$down_id", { description => "after restart $writes" });
  $r->{status} == 200 or diag("PATCH after restart: $r->{status}");
  my $e = next_event($sub, 1);
  my $ok = $e && $e->{type} eq 'incident.updated' && ($e->{incident}{description} // '') eq "after restart $writes"
      && (!defined $prev || $e->{seq} == $prev + 1);
  $streak = $ok ? $streak + 1 : 0;
  $prev = $ok ? $e->{seq} : undef;
}
ok($streak >= 4, "publishing resumed after Redis came back: four writes in a row published ($writes writes)");
my $e = $prev ? { seq => $prev } : {};
cmp_ok($e->{seq} // 0, '==', $s->psql('SELECT event_seq FROM orgs WHERE id = ' . $s->org_id) + 0,
  'the last published seq is the last logged one');
is(call(GET => '/healthz')->{status}, 200, '/healthz 200 again');

$s->finish;
done_testing;
