package ApiCall;
# What the API test files share: a request checked against openapi.json, the
# one-error envelope, the test clock in ISO form, a key's name, the next event
# of a stream.
#
#   use ApiCall qw(error_is iso_epoch key_name next_event_is);
#   my $api = ApiCall->new($s, $s->key('write'));
#   my $r = $api->call(POST => '/v1/tickets', body => {...}, now => '2026-03-19T15:00:00Z');
#   $r = $api->call(GET => $path, key => undef);       # no key at all
#   $r = $api->seed_call(PUT => $path, $json_text);    # as a seed's curl line sends it
#   $r = $api->public(GET => $page, Accept => 'application/json');   # no key: a status page
#   error_is($r, 422, 'validation_error', 'is_required', 'name', field => 'title');
#   my $bg = req_bg($s, PATCH => $path, key => $k, body => {...}, headers => {...});
#   my $r = finish_bg($bg);    # {status, headers, content, json}: requests at once
use strict;
use warnings;
use Encode ();
use Exporter 'import';
use File::Temp qw(tempfile);
use HTTP::Tiny;
use JSON::PP ();
use POSIX ();
use Test::More ();
use Time::Local qw(timegm);
use OpenAPICheck;

our @EXPORT_OK = qw(error_is finish_bg iso_epoch key_name next_event_is req_bg);

sub new {
	my ($class, $stack, $key) = @_;
	return bless { s => $stack, key => $key }, $class;
}

# "2026-03-19T15:00:00Z" (or with a fraction) -> unix seconds, for X-Test-Now.
sub iso_epoch {
	my ($Y, $m, $d, $H, $M, $S) = $_[0] =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)/
	  or die "bad time $_[0]";
	return timegm($S, $M, $H, $d, $m - 1, $Y);
}

# A request with x-api-key (the object's key unless key => ...; key => undef
# sends none), checked against openapi.json; now => ISO time sets the test clock.
sub call {
	my ($self, $method, $path, %o) = @_;
	my %h = %{ $o{headers} || {} };
	$h{'X-Test-Now'} = iso_epoch($o{now}) if $o{now};
	my $key = exists $o{key} ? $o{key} : $self->{key};
	my $r = $self->{s}->req($method, $path, (defined $key ? (key => $key) : ()), headers => \%h,
		defined $o{body} ? (body => $o{body}) : ());
	response_ok($r, $method, $path, "$method $path -> $r->{status} per openapi.json");
	return $r;
}

# A public request (a status page, its feed, its files): no key, only the
# headers %h, checked against openapi.json. {json}: the body decoded when it
# is JSON; {text}: the body as characters.
sub public {
	my ($self, $method, $path, %h) = @_;
	$self->{http} //= HTTP::Tiny->new(timeout => 15 * IncidentdTest::slowdown(), keep_alive => 0);
	my $r = $self->{http}->request($method => $self->{s}->url . $path, { headers => \%h });
	$r->{json} = eval { JSON::PP->new->utf8->decode($r->{content}) }
		if ($r->{headers}{'content-type'} // '') =~ /json/;
	$r->{text} = eval { Encode::decode_utf8($r->{content}) } // '';
	response_ok($r, $method, $path, "$method $path -> $r->{status} per openapi.json");
	return $r;
}

# A seed example as its curl line sends it: Authorization: Bearer, the body as is.
sub seed_call {
	my ($self, $method, $path, $body, $now) = @_;
	return $self->call($method, $path, key => undef, now => $now, body => $body,
		headers => { Authorization => "Bearer $self->{key}",
			defined $body ? ('Content-Type' => 'application/json') : () });
}

# DESIGN §3's envelope, exactly its four members, with exactly one error;
# %want: field, parameter, message of that error.
sub error_is {
	my ($r, $status, $type, $code, $name, %want) = @_;
	my $j = $r->{json} || {};
	Test::More::subtest($name => sub {
		Test::More::is($r->{status}, $status, "status $status") or Test::More::diag($r->{content});
		Test::More::like($r->{headers}{'content-type'} // '', qr{^application/json}, 'JSON');
		Test::More::is_deeply([sort keys %$j], [qw(errors request_id status type)], 'envelope members');
		Test::More::is($j->{type}, $type, "type $type");
		Test::More::is($j->{status}, $status, 'status in the body');
		Test::More::is_deeply([map { $_->{code} } @{ $j->{errors} || [] }], [$code], "one error: $code");
		Test::More::is($j->{request_id}, $r->{headers}{'x-request-id'}, 'request_id equals X-Request-Id');
		my $e = ($j->{errors} || [])->[0] || {};
		for my $k (qw(field parameter)) {
			Test::More::is(($e->{source} || {})->{$k}, $want{$k}, "source.$k $want{$k}") if exists $want{$k};
		}
		Test::More::is($e->{message}, $want{message}, "message '$want{message}'") if exists $want{message};
	}) or Test::More::diag("response: $r->{status} " . ($r->{content} // ''));
}

# The name incidentctl gave the org's key of this role.
sub key_name {
	my ($s, $role) = @_;
	my (undef, $out) = $s->incidentctl('key', 'list', '--org', $s->org_name);
	for (split /\n/, $out) { my @f = split /\t/; return $f[2] if ($f[1] // '') eq $role }
	return undef;
}

# The next event of SSEClient $c (within 5 s) is of this type; returns its data.
sub next_event_is {
	my ($c, $type, $name) = @_;
	my $e = $c->next_event(5);
	Test::More::ok($e, "$name: an event arrived") or return {};
	Test::More::is($e->{event}, $type, "$name: event: $type") or Test::More::diag($e->{raw});
	return ref $e->{data} eq 'HASH' ? $e->{data} : {};
}

# $s->req(@args) in a child process, so that several run at once; the
# parent collects each with finish_bg.
sub req_bg {
	my ($s, @args) = @_;
	my (undef, $file) = tempfile(UNLINK => 1);
	my $pid = fork // die "fork: $!";
	if (!$pid) {
		my $r = $s->req(@args);
		open my $out, '>', $file or POSIX::_exit(1);
		print $out JSON::PP->new->utf8->encode({ status => $r->{status}, headers => $r->{headers},
			content => $r->{content} // '' });
		close $out;
		POSIX::_exit(0);    # not END blocks: the stack belongs to the parent
	}
	return { pid => $pid, file => $file };
}

sub finish_bg {
	my ($bg) = @_;
	waitpid $bg->{pid}, 0;
	open my $in, '<', $bg->{file} or return {};
	local $/;
	my $r = eval { JSON::PP->new->utf8->decode(<$in>) } || {};
	$r->{json} = eval { JSON::PP->new->utf8->decode($r->{content}) } if length($r->{content} // '');
	return $r;
}

1;
