package HookReceiver;

# A webhook receiver on loopback for the tests: a small HTTP/1.1 server in a
# forked process that records every request (method, path, headers, body,
# arrival time) as a JSON line in its directory and answers per a script.
#
#     my $rx = HookReceiver->new(dir => $s->dir);
#     my $url = $rx->url('/a');                  # http://127.0.0.1:PORT/a
#     $rx->script('/a', 500, 200);               # first 500, then 200 (then 200s)
#     $rx->script('/b', 'sleep:12', 200);        # no answer for 12 s, then 200
#     my @reqs = $rx->wait_for(sub { @{ $_[0] } >= 3 }, 'three requests');
#     $rx->requests('/a');                       # [{method, path, headers, body, at}]
#
# One connection at a time, and each answered with Connection: close: a
# test sees every request as it came.
use strict;
use warnings;
use Carp qw(croak);
use File::Path qw(make_path);
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep time);

my $JSON = JSON::PP->new->utf8->canonical;

sub new {
	my ($class, %o) = @_;
	my $dir = "$o{dir}/receiver" . ($o{name} // '');
	make_path("$dir/scripts");
	my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
		Proto => 'tcp', Listen => 64, ReuseAddr => 1) or croak "receiver: listen: $!";
	my $self = bless { dir => $dir, port => $listen->sockport, owner => $$ }, $class;
	my $pid = fork // croak "fork: $!";
	if (!$pid) {
		$SIG{TERM} = sub { POSIX::_exit(0) };
		eval { $self->_serve($listen) };
		POSIX::_exit(0);
	}
	close $listen;
	$self->{pid} = $pid;
	return $self;
}

sub port { $_[0]{port} }
sub url { "http://127.0.0.1:$_[0]{port}" . ($_[1] // '/') }
sub log_file { "$_[0]{dir}/requests.jsonl" }

sub _script_file {
	my ($self, $path) = @_;
	(my $name = $path) =~ s{[^A-Za-z0-9]}{_}g;
	return "$self->{dir}/scripts/$name";
}

# The answers to the next requests on $path, in order; each a status, or
# 'sleep:N' (say nothing for N seconds, then close). The last one stays.
sub script {
	my ($self, $path, @answers) = @_;
	my $f = $self->_script_file($path);
	open my $fh, '>', "$f.tmp" or croak "$f: $!";
	print $fh "$_\n" for @answers;
	close $fh;
	rename "$f.tmp", $f or croak "rename $f: $!";
}

# Every request recorded so far (on $path, when given).
sub requests {
	my ($self, $path) = @_;
	open my $fh, '<', $self->log_file or return [];
	my @r;
	while (my $line = <$fh>) {
		chomp $line;
		my $req = eval { $JSON->decode($line) } or next;
		push @r, $req if !defined $path || $req->{path} eq $path;
	}
	return \@r;
}

# Polls until $check->(requests) is true; dies after $timeout s.
sub wait_for {
	my ($self, $check, $what, %o) = @_;
	my $deadline = time + ($o{timeout} // 60);
	while (1) {
		my $reqs = $self->requests($o{path});
		return @$reqs if $check->($reqs);
		croak "receiver: timed out waiting for $what (" . scalar(@$reqs) . ' requests)'
		    if time > $deadline;
		sleep 0.1;
	}
}

sub stop {
	my ($self) = @_;
	return unless $self->{pid} && $self->{owner} == $$;
	kill 'TERM', $self->{pid};
	waitpid $self->{pid}, 0;
	delete $self->{pid};
}

sub DESTROY { $_[0]->stop }

# ---- the server (in the child)

sub _next_answer {
	my ($self, $path) = @_;
	my $f = $self->_script_file($path);
	open my $fh, '<', $f or return 200;
	chomp(my @lines = <$fh>);
	close $fh;
	return 200 unless @lines;
	my $answer = shift @lines;
	if (@lines) {
		open my $out, '>', "$f.tmp" or return $answer;
		print $out "$_\n" for @lines;
		close $out;
		rename "$f.tmp", $f;
	} else {
		unlink $f;
		$self->script($path, $answer);    # the last one stays
	}
	return $answer;
}

sub _serve {
	my ($self, $listen) = @_;
	while (my $c = $listen->accept) {
		$self->_one($c);
		close $c;
	}
}

sub _one {
	my ($self, $c) = @_;
	local $SIG{ALRM} = sub { die "timeout\n" };
	alarm 10;
	my $head = '';
	while ($head !~ /\r\n\r\n/) {
		my $n = sysread($c, $head, 4096, length $head) or return;
	}
	my ($top, $rest) = split /\r\n\r\n/, $head, 2;
	my ($request_line, @lines) = split /\r\n/, $top;
	my ($method, $path) = split ' ', $request_line;
	my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () } @lines;
	my $body = $rest // '';
	while (length($body) < ($h{'content-length'} // 0)) {
		sysread($c, $body, 65536, length $body) or last;
	}
	alarm 0;
	my $answer = $self->_next_answer($path);
	open my $log, '>>', $self->log_file or die;
	flock $log, 2;
	print $log $JSON->encode({ method => $method, path => $path, headers => \%h,
		body => $body, at => time, answer => "$answer" }) . "\n";
	close $log;
	if ($answer =~ /^sleep:(\d+(?:\.\d+)?)$/) {
		sleep $1;
		return;
	}
	syswrite $c, "HTTP/1.1 $answer Test\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
}

1;
