#!/usr/bin/env perl
# script/server, the development stack: run in a private directory
# (INCIDENTD_VAR) on a free port with this run's build (INCIDENTD_BUILD), it
# keeps its secrets private; when Redis, nginx or PostgreSQL exits it starts
# it again and keeps serving (a Redis outage never fails a write); SIGTERM
# stops every process it started.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(remove_tree);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);

use lib 't/lib';
use SSEClient;

my $REPO = abs_path(dirname(abs_path(__FILE__)) . '/..');
my $BUILD = $ENV{INCIDENTD_BUILD} || "$REPO/build/test";
my $TIMEOUT = $ENV{INCIDENTD_TEST_TIMEOUT} || 60;
my $HTTP = HTTP::Tiny->new(timeout => 10, keep_alive => 0);
my $JSON = JSON::PP->new->utf8->canonical;

plan skip_all => 'script/server runs PostgreSQL as the postgres user: needs root' if $> != 0;

my $dir = tempdir('incidentd-server-XXXXXX', DIR => '/tmp');
chmod 0711, $dir or die "chmod $dir: $!";    # the postgres user reaches var/pg
my $var = "$dir/var";
my $log = "$dir/server.log";
my $server_pid;

# ---------------------------------------------------------------- helpers

sub slurp {
	my ($file) = @_;
	open my $fh, '<', $file or return '';
	local $/;
	return scalar <$fh> // '';
}

sub pid_in {
	my ($file) = @_;
	my ($pid) = slurp($file) =~ /^(\d+)/;
	return $pid;
}

# Running, not a zombie waiting for its parent to reap it.
sub alive {
	my ($pid) = @_;
	return 0 unless $pid && kill 0, $pid;
	my ($state) = slurp("/proc/$pid/stat") =~ /^\d+ \(.*\) (\S)/s;
	return defined $state && $state ne 'Z';
}

# Calls $check until it returns true or $timeout seconds pass.
sub poll {
	my ($timeout, $check) = @_;
	my $deadline = time + $timeout;
	my $pause = 0.02;
	until ($check->()) {
		return 0 if time > $deadline;
		sleep $pause;
		$pause = 0.2 if ($pause *= 2) > 0.2;
	}
	return 1;
}

sub free_port {
	for (1 .. 200) {
		my $port = 20000 + int rand 12000;
		my @socks = map {
			IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $_, Listen => 1, ReuseAddr => 1)
		} $port, $port + 1;
		return $port if 2 == grep { defined } @socks;
	}
	die "no free port pair found\n";
}

# Every process of the stack, by what script/server recorded.
sub stack_pids {
	my %pids = map { $_ => pid_in("$var/run/$_.pid") } qw(redis incidentd nginx);
	$pids{postgres} = pid_in("$var/pg/postmaster.pid");
	return \%pids;
}

sub server_exited {
	return 1 unless $server_pid;
	my $r = waitpid $server_pid, WNOHANG;
	return 0 if $r == 0;
	$server_pid = undef;
	return 1;
}

# Stops script/server (SIGTERM, SIGKILL after a grace period) and anything of
# its stack still running: a failing test must not leave a stack behind.
sub stop_everything {
	my $pids = stack_pids();
	if ($server_pid) {
		kill 'TERM', $server_pid;
		poll(40, \&server_exited) or do { kill 'KILL', $server_pid; poll(5, \&server_exited) };
	}
	for my $name (sort keys %$pids) {
		my $pid = $pids->{$name} or next;
		next unless alive($pid);
		kill $name eq 'postgres' ? 'QUIT' : 'KILL', $pid;
		poll(10, sub { !alive($pid) });
	}
}

END {
	my $exit = $?;
	local $?;
	stop_everything() if $server_pid;
	if (!$exit && Test::More->builder->is_passing) {
		remove_tree($dir);
	} else {
		diag "script/server's files kept in $dir; its output:\n" . slurp($log);
	}
}
$SIG{$_} = sub { exit 1 } for qw(INT TERM HUP);

# ---------------------------------------------------------------- start

my $port = free_port();
my $url = "http://127.0.0.1:$port";
$server_pid = fork // die "fork: $!";
if ($server_pid == 0) {
	open STDIN, '<', '/dev/null' or die;
	open STDOUT, '>', $log or die "$log: $!";
	open STDERR, '>&', \*STDOUT or die;
	$SIG{$_} = 'DEFAULT' for qw(INT TERM HUP PIPE);
	delete $ENV{$_} for grep { /^INCIDENTD_TEST_/ } keys %ENV;
	@ENV{qw(PORT INCIDENTD_VAR INCIDENTD_BUILD)} = ($port, $var, $BUILD);
	exec "$REPO/script/server" or die "exec: $!";
}

ok poll($TIMEOUT * 2, sub { -s "$var/server.env" || server_exited() }) && $server_pid,
    'script/server writes var/server.env and keeps running'
    or BAIL_OUT('script/server did not start');
my %env = slurp("$var/server.env") =~ /^(INCIDENTD_\w+)=(.*)$/mg;
is $env{INCIDENTD_URL}, $url, 'server.env names the URL on PORT';
like $env{INCIDENTD_API_KEY} // '', qr/^\S{32,}$/, 'and an API key';

# ---------------------------------------------------------------- secrets

is sprintf('%04o', (stat "$var/server.env")[2] & 07777), '0600', 'server.env is private (0600)';
is sprintf('%04o', (stat "$var/run/incidentd.sock")[2] & 07777), '0660',
    'the FastCGI socket is not world-writable (0660)';

# ---------------------------------------------------------------- serving

sub create {
	my ($title) = @_;
	my $r = $HTTP->request(POST => "$url/v1/tickets", {
		headers => { 'x-api-key' => $env{INCIDENTD_API_KEY}, 'content-type' => 'application/json' },
		content => $JSON->encode({ title => $title }) });
	return $r->{status};
}

is create('through script/server'), 201, 'a write through nginx succeeds';

# ---------------------------------------------------------------- restarts

sub config_value {
	my ($key) = @_;
	my ($value) = slurp("$var/incidentd.conf") =~ /^\Q$key\E\s*=\s*(.*)$/m;
	return $value;
}

sub redis_ping {
	my ($port) = @_;
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 2)
	    or return 0;
	print $sock "PING\r\n";
	return (<$sock> // '') =~ /^\+PONG/;
}

# poll while script/server runs: its exit ends the test at once.
sub poll_up {
	my ($timeout, $check) = @_;
	return poll($timeout, sub {
		die "script/server exited; see its output below\n" if server_exited();
		return $check->();
	});
}

# Waits until the service's pid file names a new, running process.
sub restarted {
	my ($name, $old) = @_;
	my $new;
	my $ok = poll_up($TIMEOUT, sub {
		$new = pid_in("$var/run/$name.pid");
		return $new && $new != $old && alive($new);
	});
	return $ok ? $new : undef;
}

sub all_created {
	my ($label, $n) = @_;
	my @bad = grep { $_ != 201 } map { create("$label $_") } 1 .. $n;
	is scalar(@bad), 0, "$n writes $label answer 201" or diag "statuses: @bad";
}

my $stream = SSEClient->new(port => $port, path => '/v1/incidents/stream',
	headers => { 'x-api-key' => $env{INCIDENTD_API_KEY} });
is $stream->{status}, 200, 'a stream is open';

subtest 'Redis exits: writes go on, script/server starts it again' => sub {
	my ($redis_port) = (config_value('redis') // '') =~ /:(\d+)$/;
	ok $redis_port, "Redis is on port $redis_port";
	my $old = pid_in("$var/run/redis.pid");
	system('redis-cli', '-p', $redis_port, 'shutdown', 'nosave');
	ok poll(10, sub { !alive($old) }), 'redis-server is gone';
	all_created('while Redis is down', 3);
	ok restarted('redis', $old), 'a new redis-server runs';
	ok poll_up($TIMEOUT, sub { redis_ping($redis_port) }), 'and answers PING on the same port';
	ok !server_exited(), 'script/server is still running';
	like slurp($log), qr/redis exited.*restart/i, 'script/server said what it did';
	my $title = 'after Redis came back';
	is create($title), 201, 'a write after the restart';
	my $e = $stream->read_until(sub { ($_[0]{data}{incident}{title} // '') eq $title }, 30);
	ok $e && @$e && $e->[-1]{data}{incident}{title} eq $title,
	    'the open stream receives the events, the new one included';
};

subtest 'nginx exits: script/server starts it again' => sub {
	my $old = pid_in("$var/run/nginx.pid") or die "no nginx pid\n";
	kill 'TERM', $old;
	ok poll(10, sub { !alive($old) }), 'nginx is gone';
	ok restarted('nginx', $old), 'a new nginx runs';
	ok poll_up($TIMEOUT, sub { create('after nginx came back') == 201 }), 'writes succeed through it';
};

subtest 'PostgreSQL exits: script/server starts it again' => sub {
	my $old = pid_in("$var/pg/postmaster.pid");
	my $pgbin = (sort { ($a =~ /(\d+)/)[0] <=> ($b =~ /(\d+)/)[0] } glob '/usr/lib/postgresql/*/bin')[-1];
	system('runuser', '-u', 'postgres', '--', "$pgbin/pg_ctl", '-D', "$var/pg", '-m', 'fast',
		'-w', 'stop') == 0 or diag 'pg_ctl stop failed';
	ok poll(10, sub { !alive($old) }), 'PostgreSQL is gone';
	my $new;
	ok poll_up($TIMEOUT, sub { $new = pid_in("$var/pg/postmaster.pid"); $new && $new != $old && alive($new) }),
	    'a new postmaster runs';
	ok poll_up($TIMEOUT, sub { create('after PostgreSQL came back') == 201 }), 'writes succeed again';
	ok !server_exited(), 'script/server is still running';
};

# ---------------------------------------------------------------- stopping

$stream->close;
my $pids = stack_pids();
is scalar(grep { alive($_) } values %$pids), 4, 'redis, incidentd, nginx and PostgreSQL run'
    or diag explain $pids;
kill 'TERM', $server_pid;
ok poll(60, \&server_exited), 'script/server exits on SIGTERM';
# PostgreSQL removes its pid file (which pg_ctl waits for) just before it exits.
my @left;
poll(10, sub { @left = grep { alive($pids->{$_}) } sort keys %$pids; !@left });
ok !@left, 'and every process it started is gone' or diag "still running: @left";
my @workers = grep { my $c = slurp("/proc/$_/cmdline"); $c =~ /\Q$var\E/ } map { m{/proc/(\d+)/} } glob '/proc/[0-9]*/cmdline';
ok !@workers, 'nothing that names its directory is left' or diag "still running: @workers";
unlike slurp($log), qr/AddressSanitizer|LeakSanitizer|runtime error:/, 'no sanitizer report';

done_testing;
