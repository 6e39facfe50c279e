package IncidentdTest;

# Test harness: each test file gets a private incidentd stack — its own
# database (in the run's shared PostgreSQL cluster, or a private cluster), its
# own Redis, incidentd and nginx on free loopback ports — and its own org with
# an admin, a write and a read key.
#
#     use lib 't/lib';
#     use IncidentdTest;
#     my $s = IncidentdTest->new(workers => 2);
#     my $r = $s->req(POST => '/v1/tickets', key => $s->key('write'),
#                     body => { title => 'Disk full' });
#     is $r->{status}, 201;
#     $s->finish;
#     done_testing;
#
# API (see each sub for details):
#   new(workers => 2, own_postgres => 0, config => {key => value},
#       sse_tcp => 0,       incidentd-sse on 127.0.0.1:<sse_port>, not on
#                           its unix socket (sse_socket)
#       hooks => 0,         no incidentd-hooks (webhook_delivery = no): a test
#                           that plays its part in the database itself
#       webhook_allow_private => 0,  incidentd-hooks refuses private
#                           destinations (the default here is yes: the
#                           test receivers are on loopback)
#       rate_limits => F)   nginx's request rates (nginx/incidentd-limits.conf)
#                           times F; 1 is production's, 0 puts them out of
#                           reach (still checked on every request); default
#                           $IncidentdTest::RATE_LIMITS
#   url port socket redis_port sse_port sse_socket sse_listen sql_conninfo
#   config_file dir build
#   key(admin|write|read) org_name org_id new_org($name)
#   req(METHOD, PATH, body => ..., key => ..., headers => {...})
#   stream(PATH, key => ..., headers => {...}, rcvbuf => ...)   an SSEClient
#   incidentctl(@args) psql($sql) log
#   hold_lock($take_sql, $pg_locks_condition)   a psql session holding a lock
#   incidentd_pid worker_pids kill_worker(sig => 'KILL', pid => ...)
#   sse_pid kill_sse(sig => 'KILL', then => CODE)
#   hooks_pid hooks_pids kill_hooks(sig => 'KILL', pid => ...)
#   stop_incidentd start_incidentd stop_redis start_redis
#   stop_postgres start_postgres restart_postgres (own_postgres => 1 only)
#   add_host   a second host: its own incidentd (+ incidentd-sse) and nginx
#              on the same database, Redis and org; has url, req, stream ...
#   add_host(sse_tcp => 1)  its incidentd-sse on a port (else a unix socket)
#   add_host(own_redis => 1)  the same on a private Redis: a host that
#              hears no event published through the others
#   finish
#   IncidentdTest::valgrind()   true under INCIDENTD_VALGRIND=1
#   IncidentdTest::slowdown()   factor for a test's time bounds (5 under it, else 1)
#
# incidentd-sse: the config names sse_listen = unix:<dir>/sse.sock (as
# production's configs; sse_tcp => 1: 127.0.0.1:<sse_port>) and heartbeat = 1
# (config => {heartbeat => N} overrides); nginx proxies the stream paths to
# it; start-up waits until it accepts connections.
#
# Ports are found by bind-probing, readiness by polling with a deadline; every
# process started here is killed at exit, even when the test dies. Logs and
# data stay in the test's temp dir (/tmp/incidentd-test-*) when a test fails.
#
# Environment:
#   INCIDENTD_BUILD        build dir with src/incidentd (default <repo>/build/test)
#   INCIDENTD_TEST_PGHOST  shared cluster (socket dir or 127.0.0.1), set by
#   INCIDENTD_TEST_PGPORT  script/test; unset: a private cluster per test file
#   INCIDENTD_TEST_PGUSER  superuser of the shared cluster (default postgres)
#   INCIDENTD_TEST_KEEP=1  keep the temp dir even when the test passed
#   INCIDENTD_TEST_TIMEOUT seconds to wait for a process to become ready (60;
#                          times $VALGRIND_SLOWDOWN under valgrind)
#   INCIDENTD_VALGRIND=1   run incidentd (master, workers, incidentd-sse) under
#                          valgrind's memcheck with workers = 1; finish fails
#                          the test on any memcheck error or definite leak
#                          (see "valgrind" below). IncidentdTest::valgrind()
#                          tells a test it is on, to skip or scale down.

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use File::Basename qw(basename dirname);
use File::Path qw(remove_tree);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use JSON::PP;
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken);
use Test::More;
use Time::HiRes qw(sleep time);

use SSEClient;

my $REPO = abs_path(dirname(abs_path(__FILE__)) . '/../..');
my $JSON = JSON::PP->new->utf8->canonical;
my $VALGRIND = $ENV{INCIDENTD_VALGRIND} ? 1 : 0;
# memcheck runs code 10-50 times slower: every deadline of the harness that
# waits on incidentd grows by this factor under it.
my $VALGRIND_SLOWDOWN = 5;
my $SLOWDOWN = $VALGRIND ? $VALGRIND_SLOWDOWN : 1;
my $TIMEOUT = ($ENV{INCIDENTD_TEST_TIMEOUT} || 60) * $SLOWDOWN;
my $SANITIZER_RE = qr/AddressSanitizer|LeakSanitizer|runtime error:/;
# The master's line for a child that died of a signal, e.g.
# "worker 1234 killed by signal 11". Any child kind counts (worker, sse).
my $CRASH_RE = qr/\b(\d+) killed by signal (\d+)/;
# incidentd-sse only ever exits 0 (on SIGTERM); any other status is a failure
# (a sanitizer makes it exit 1 after a leak report, say).
my $SSE_FAILED_RE = qr/\b(?:sse|hooks) (\d+) exited with status [1-9]/;

# prctl(PR_SET_PDEATHSIG) makes the kernel signal our children if this test
# process dies without running END (SIGKILL, a prove timeout).
my $SYS_prctl = eval { package main; require 'syscall.ph'; main::SYS_prctl() };
use constant PR_SET_PDEATHSIG => 1;

# The factor nginx's request rates are multiplied by unless a test says
# (rate_limits): 1, production's limits, so every test meets the nginx a
# deployment runs. The whole suite passes under them, and under half their
# rates and bursts too (the margin); only t/51-rate-limits.t reaches them,
# on purpose.
our $RATE_LIMITS = 1;

my @LIVE;    # weak refs to every instance, for END
my $INSTANCES = 0;    # instances this process started, for unique database names

# ---------------------------------------------------------------- life cycle

sub new {
	my ($class, %opts) = @_;
	my $self = bless {
		opts => \%opts,
		owner => $$,
		children => {},         # name => pid
		killed_workers => {},   # pids the test killed on purpose
		problems => [],         # unclean incidentd stops, for finish
		ports => {},            # redis, nginx, sse
		used_port => {},        # ports handed out, shared with added hosts
		hosts => [],            # add_host's instances, stopped with this one
	}, $class;
	push @LIVE, $self;
	weaken($LIVE[-1]);
	_install_signal_handlers();

	unless (eval { $self->_start; 1 }) {
		my $err = $@;
		my $context = $self->{dir} ? $self->_log_tails : '';
		$self->_stop_all;
		$self->{cleaned} = 1;
		my $where = $self->{dir} ? "\n(logs kept in $self->{dir})" : '';
		die "IncidentdTest: start-up failed: $err$context$where\n";
	}
	return $self;
}

sub _start {
	my ($self) = @_;
	my $build = $ENV{INCIDENTD_BUILD} || "$REPO/build/test";
	$self->{build} = $build;
	for my $bin (qw(incidentd incidentctl incidentd-sse incidentd-hooks)) {
		-x "$build/src/$bin"
		    or die "$build/src/$bin not found: build it first "
		    . "(script/build test --enable-test-clock)\n";
	}

	$self->{dir} = tempdir('incidentd-test-XXXXXX', DIR => '/tmp');
	# A private PostgreSQL cluster lives inside; its owner must get through.
	chmod 0711, $self->{dir} or die "chmod $self->{dir}: $!\n";
	$self->{test_name} = _test_name();
	$self->{config_file} = "$self->{dir}/incidentd.conf";
	$self->{socket} = "$self->{dir}/incidentd.sock";

	$self->_start_postgres_cluster;
	$self->_create_database;
	$self->_start_with_free_port('redis', sub { $self->start_redis });
	# Chosen before nginx, whose config names it; incidentd-sse binds it.
	$self->_choose_sse_listen($self->{opts}{sse_tcp});
	$self->_start_with_free_port('nginx', sub { $self->_start_nginx });
	$self->_write_config;

	$self->_ctl_ok('migrate');
	my $org = $self->new_org('test');
	$self->{org} = $org;

	$self->start_incidentd;
	$self->_wait_healthy;
}

# Stops everything, then checks what the logs say about the run. Call it once,
# before done_testing.
sub finish {
	my ($self) = @_;
	croak 'finish called twice' if $self->{finished};
	croak 'finish belongs to the first host' if $self->{is_host};
	$self->_stop_all;
	$self->{finished} = $self->{cleaned} = 1;

	# This host and every added one: their logs, the processes the test
	# killed on purpose, their unclean stops.
	my @hosts = ($self, @{ $self->{hosts} });
	my @lines = map { split /\n/, $self->_slurp($_) }
	    (map { $_->_incidentd_log } @hosts), "$self->{dir}/incidentctl.log";
	my %killed = map { %{ $_->{killed_workers} } } @hosts;
	my @problems = map { @{ $_->{problems} } } @hosts;

	my ($first) = grep { $lines[$_] =~ $SANITIZER_RE } 0 .. $#lines;
	ok(!defined $first, 'no sanitizer report in the incidentd logs')
	    or diag(join "\n", grep { defined } @lines[$first .. $first + 60]);

	my @crashes = grep { (/$CRASH_RE/ || /$SSE_FAILED_RE/) && !$killed{$1} } @lines;
	ok(!@crashes, 'no incidentd process crashed') or diag(join "\n", @crashes);

	ok(!@problems, 'incidentd stopped cleanly') or diag(join "\n", @problems);

	if ($VALGRIND) {
		my @reports = map { $_->_valgrind_problems } @hosts;
		ok(!@reports, 'valgrind: no memcheck error, nothing definitely lost')
		    or diag(join "\n\n", @reports);
	}

	$self->_remove_dir_if_passing;
	return;
}

# Also runs when a test dies: perl unwinds the file's lexicals before END,
# with $? already set to the exit status.
sub DESTROY {
	my ($self) = @_;
	my $exit = $?;
	local ($?, $@, $!);
	$self->_cleanup($exit);
}

my $VALGRIND_FAILED;    # a _cleanup found valgrind reports: the test must fail

END {
	my $exit = $?;
	{
		local $?;    # keep the test's exit status (stopping children changes $?)
		$_->_cleanup($exit) for grep { defined } @LIVE;
	}
	$? = 1 if $VALGRIND_FAILED && !$exit;
}

# The test ended without finish (it died, or forgot): stop everything quietly,
# but for valgrind's reports, which no test may lose. $exit is the test's
# exit status when called from END.
sub _cleanup {
	my ($self, $exit) = @_;
	return if $self->{cleaned} || $self->{owner} != $$;
	$self->{cleaned} = 1;
	$self->_stop_all;
	my @reports = map { $_->_valgrind_problems } $self, @{ $self->{hosts} };
	if (@reports) {
		diag(join "\n\n", 'IncidentdTest: valgrind found problems', @reports);
		$VALGRIND_FAILED = 1;
	}
	$self->_remove_dir_if_passing($exit || @reports);
}

# Keeps the logs of a failed or dying test for a post-mortem.
sub _remove_dir_if_passing {
	my ($self, $exit) = @_;
	return if $self->{is_host};    # an added host's dir is inside the first's
	return unless $self->{dir} && -d $self->{dir};
	if (!$exit && Test::More->builder->is_passing && !$ENV{INCIDENTD_TEST_KEEP}) {
		remove_tree($self->{dir});
	} else {
		diag("IncidentdTest: logs kept in $self->{dir}");
	}
}

sub _stop_all {
	my ($self) = @_;
	$_->_stop_all for @{ $self->{hosts} };
	$self->_stop_child('nginx', 'TERM');
	$self->stop_incidentd if $self->{children}{incidentd};
	if ($self->{is_host}) {    # the database (and Redis, unless its own) are the first host's
		$self->stop_redis if $self->{children}{redis};
		return;
	}
	$self->stop_redis if $self->{children}{redis};
	if ($self->{pg}{own}) {
		$self->stop_postgres if $self->{children}{postgres};
	} elsif ($self->{db_created}) {
		# The shared cluster outlives this test: leave it as we found it.
		$self->_capture([ _pg_tool('dropdb'), $self->_pg_args,
			'--if-exists', '--force', $self->{db} ]);
	}
}

# Ctrl-C or a kill of the test must still run END, which stops the children
# (they are in process groups of their own and do not see the terminal's ^C).
sub _install_signal_handlers {
	my %code = (HUP => 129, INT => 130, TERM => 143);
	for my $sig (keys %code) {
		$SIG{$sig} = sub { exit $code{$sig} } unless $SIG{$sig};
	}
	# A server closing a connection must fail a request, not kill the test.
	$SIG{PIPE} = 'IGNORE' unless $SIG{PIPE};
}

# ---------------------------------------------------------------- accessors

sub url { "http://127.0.0.1:$_[0]{ports}{nginx}" }
sub port { $_[0]{ports}{nginx} }
sub redis_port { $_[0]{ports}{redis} }
sub sse_port { $_[0]{ports}{sse} }         # undef on a unix socket
sub sse_socket { $_[0]{sse_socket} }       # undef on a port
sub sse_listen {
	my ($self) = @_;
	return $self->{sse_socket} ? "unix:$self->{sse_socket}" : "127.0.0.1:$self->{ports}{sse}";
}
sub socket { $_[0]{socket} }
sub dir { $_[0]{dir} }
sub build { $_[0]{build} }
sub config_file { $_[0]{config_file} }
sub org_name { $_[0]{org}{name} }
sub org_id { $_[0]{org}{id} }
sub incidentd_pid { $_[0]{children}{incidentd} }

sub key {
	my ($self, $role) = @_;
	return $self->{org}{keys}{$role} // croak "no key for role '$role'";
}

sub sql_conninfo {
	my ($self) = @_;
	my $pg = $self->{pg};
	return "host=$pg->{host} port=$pg->{port} user=$pg->{user} dbname=$self->{db}";
}

sub log { $_[0]->_slurp($_[0]->_incidentd_log) }

# ---------------------------------------------------------------- requests

my $HTTP = HTTP::Tiny->new(
	timeout => 10 * $SLOWDOWN,
	# A fresh connection per request: no stale keep-alive connection can
	# fail a POST, and a test sees exactly one exchange.
	keep_alive => 0,
	# Tests look at redirects themselves.
	max_redirect => 0,
	agent => 'incidentd-test/1',
);

# req(METHOD, PATH, body => $ref_or_string, key => $key, headers => {...})
# A reference body is sent as canonical JSON, a string as it is. Returns
# HTTP::Tiny's response hash plus {json}: the decoded body when the response
# says it is JSON, else undef.
sub req {
	my ($self, $method, $path, %o) = @_;
	my %headers = %{ $o{headers} // {} };
	$headers{'x-api-key'} = $o{key} if defined $o{key};
	my %args = (headers => \%headers);
	if (defined $o{body}) {
		my $body = ref $o{body} ? $JSON->encode($o{body}) : $o{body};
		utf8::encode($body) if utf8::is_utf8($body);
		$args{content} = $body;
		$headers{'content-type'} = 'application/json'
		    unless grep { lc eq 'content-type' } keys %headers;
	}
	my $url = $path =~ m{^https?://} ? $path : $self->url . $path;
	my $r = $HTTP->request($method, $url, \%args);
	$r->{json} = _decode_json_response($r);
	return $r;
}

# stream(PATH, key => $key, headers => {...}, rcvbuf => bytes, timeout => s,
#        method => 'GET', local_addr => '127.0.0.2')
# Opens a stream through nginx: an SSEClient whose response head has been
# read ({status}, {headers}; {json} when it is an error).
sub stream {
	my ($self, $path, %o) = @_;
	my %headers = %{ $o{headers} // {} };
	$headers{'x-api-key'} = $o{key} if defined $o{key};
	return SSEClient->new(port => $self->port, path => $path, headers => \%headers,
		timeout => $o{timeout} // 10 * $SLOWDOWN,
		map { defined $o{$_} ? ($_ => $o{$_}) : () } qw(method rcvbuf local_addr));
}

sub _decode_json_response {
	my ($r) = @_;
	my $type = $r->{headers}{'content-type'} // '';
	return undef unless $type =~ m{^application/(?:[\w.-]+\+)?json\b}i;
	return undef unless length($r->{content} // '');
	return eval { $JSON->decode($r->{content}) };
}

# Polls GET /healthz through nginx until it answers 200.
sub _wait_healthy {
	my ($self) = @_;
	my $r;
	$self->_poll('GET /healthz to answer 200', sub {
		$self->_assert_alive('incidentd', 'nginx');
		$r = $self->req(GET => '/healthz');
		return $r->{status} == 200;
	}, sub { "last answer: $r->{status} $r->{content}" });
}

# ---------------------------------------------------------------- incidentctl, psql

# Runs incidentctl with this test's config; returns (exit code, stdout, stderr).
sub incidentctl {
	my ($self, @args) = @_;
	return $self->_capture(
		[ "$self->{build}/src/incidentctl", '-c', $self->{config_file}, @args ],
		log => "$self->{dir}/incidentctl.log", clean_env => 1);
}

# incidentctl that must succeed; returns its stdout without the final newline.
sub _ctl_ok {
	my ($self, @args) = @_;
	my ($code, $out, $err) = $self->incidentctl(@args);
	die "incidentctl @args: exit $code: $err\n" if $code;
	chomp $out;
	return $out;
}

# Another organisation in this test's database, with admin/write/read keys.
sub new_org {
	my ($self, $name) = @_;
	$name //= 'org' . ++$self->{org_count};
	my $id = $self->_ctl_ok('org', 'create', $name);
	die "org create $name printed '$id', not an id\n" unless $id =~ /^\d+$/;
	my %keys = map {
		$_ => $self->_ctl_ok('key', 'create', '--org', $name, '--role', $_)
	} qw(admin write read);
	return { id => $id, name => $name, keys => \%keys };
}

# Runs SQL as the superuser on this test's database; returns psql's unaligned,
# tuples-only output (fields separated by '|'). Dies when the SQL fails.
sub psql {
	my ($self, $sql) = @_;
	my ($code, $out, $err) = $self->_capture([ _pg_tool('psql'), $self->_pg_args,
		'-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', $self->{db}, '-c', $sql ]);
	croak "psql: exit $code: $err" if $code;
	return $out;
}

# A psql session that runs $take (which takes a lock) and then holds it until
# it is killed or PostgreSQL stops; returns the session's pid once pg_locks
# shows the lock ($which: a condition on pg_locks) granted.
sub hold_lock {
	my ($self, $take, $which) = @_;
	my $pid = fork // die "fork: $!";
	if (!$pid) {
		open STDOUT, '>', '/dev/null';
		open STDERR, '>', '/dev/null';
		eval { $self->psql("$take; SELECT pg_sleep(600)") };
		POSIX::_exit(0);
	}
	my $deadline = time + 30;
	until ($self->psql("SELECT count(*) FROM pg_locks WHERE $which AND granted") + 0 > 0) {
		die "the lock ($which) was not granted in 30 s\n" if time > $deadline;
		sleep 0.05;
	}
	return $pid;
}

# ---------------------------------------------------------------- PostgreSQL

sub _start_postgres_cluster {
	my ($self) = @_;
	if (!$self->{opts}{own_postgres} && $ENV{INCIDENTD_TEST_PGHOST}) {
		$self->{pg} = {
			host => $ENV{INCIDENTD_TEST_PGHOST},
			port => $ENV{INCIDENTD_TEST_PGPORT} || 5432,
			user => $ENV{INCIDENTD_TEST_PGUSER} || 'postgres',
		};
		return;
	}
	# A private cluster: data and socket in the test's dir. Unix socket only,
	# so the port number only names the socket file.
	my $data = "$self->{dir}/pg";
	$self->{pg} = { host => $data, port => 5432, user => 'postgres', own => 1, data => $data };
	mkdir $data, 0700 or die "mkdir $data: $!\n";
	if ($> == 0) {
		my ($uid, $gid) = (getpwnam 'postgres')[ 2, 3 ];
		defined $uid or die "no user 'postgres' (script/bootstrap installs postgresql)\n";
		chown $uid, $gid, $data or die "chown $data: $!\n";
	}
	my $log = "$self->{dir}/initdb.log";
	my ($code) = $self->_capture([ _pg_tool('initdb'), '-D', $data, '--nosync',
		'-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C.UTF-8' ],
		as_postgres => 1, log => $log);
	die "initdb failed:\n" . $self->_slurp($log) if $code;
	open my $fh, '>>', "$data/postgresql.conf" or die "$data/postgresql.conf: $!\n";
	print $fh <<"EOF";
# IncidentdTest: a throw-away cluster; durability buys nothing here.
listen_addresses = ''
unix_socket_directories = '$data'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
	close $fh;
	$self->start_postgres;
}

sub start_postgres {
	my ($self) = @_;
	croak 'start_postgres needs own_postgres => 1' unless $self->{pg}{own};
	croak 'postgres is already running' if $self->{children}{postgres};
	$self->_spawn('postgres', "$self->{dir}/postgres.log",
		[ _pg_tool('postgres'), '-D', $self->{pg}{data} ],
		as_postgres => 1, pdeathsig => POSIX::SIGQUIT());
	$self->_poll('PostgreSQL to accept connections', sub {
		$self->_assert_alive('postgres');
		my ($code) = $self->_capture([ _pg_tool('pg_isready'), $self->_pg_args, '-q' ]);
		return $code == 0;
	});
}

# Fast shutdown: open connections are cut, as in a database crash or failover.
sub stop_postgres {
	my ($self) = @_;
	croak 'stop_postgres needs own_postgres => 1' unless $self->{pg}{own};
	$self->_stop_child('postgres', 'INT');
}

sub restart_postgres {
	my ($self) = @_;
	$self->stop_postgres;
	$self->start_postgres;
}

sub _create_database {
	my ($self) = @_;
	(my $base = lc $self->{test_name}) =~ s/[^a-z0-9]+/_/g;
	# A test file may run two stacks (say, with different limits) at once.
	my $n = ++$INSTANCES;
	$self->{db} = substr("incidentd_t_${base}", 0, 50) . "_$$" . ($n > 1 ? "_$n" : '');
	# template0: always UTF8 whatever the cluster's default, and never has
	# sessions, so test files creating databases at once do not collide.
	my ($code, undef, $err) = $self->_capture([ _pg_tool('createdb'), $self->_pg_args,
		'-T', 'template0', '-E', 'UTF8', '--locale=C.UTF-8', $self->{db} ]);
	die "createdb $self->{db}: $err\n" if $code;
	$self->{db_created} = 1;
}

sub _pg_args {
	my ($self) = @_;
	return ('-h', $self->{pg}{host}, '-p', $self->{pg}{port}, '-U', $self->{pg}{user});
}

# PostgreSQL's server tools (initdb, postgres) are not on PATH on Debian; use
# the newest installed version's directory for all of them.
my $PG_BIN;
sub _pg_tool {
	my ($tool) = @_;
	$PG_BIN //= do {
		my @dirs = sort { ($a =~ /(\d+)/)[0] <=> ($b =~ /(\d+)/)[0] }
		    glob '/usr/lib/postgresql/*/bin';
		@dirs or die "PostgreSQL not installed (run script/bootstrap)\n";
		$dirs[-1];
	};
	return "$PG_BIN/$tool";
}

# ---------------------------------------------------------------- Redis

sub start_redis {
	my ($self) = @_;
	croak 'redis is already running' if $self->{children}{redis};
	my $pidfile = "$self->{dir}/redis.pid";
	unlink $pidfile;
	my $port = $self->{ports}{redis};
	$self->_spawn('redis', "$self->{dir}/redis.log", [
		'redis-server', '--bind', '127.0.0.1', '--port', $port,
		'--save', '', '--appendonly', 'no', '--dir', $self->{dir},
		'--pidfile', $pidfile, '--daemonize', 'no' ]);
	# Redis writes its pid file once it listens: a PONG before that could
	# come from someone else on the port.
	$self->_poll('Redis to answer PING', sub {
		$self->_assert_alive('redis');
		return -s $pidfile && _redis_ping($port);
	});
}

sub stop_redis {
	my ($self) = @_;
	$self->_stop_child('redis', 'TERM');
}

sub _redis_ping {
	my ($port) = @_;
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
		Proto => 'tcp', Timeout => 2) or return 0;
	print $sock "PING\r\n";
	my $line = <$sock> // '';
	return $line =~ /^\+PONG/;
}

# ---------------------------------------------------------------- nginx

sub _start_nginx {
	my ($self) = @_;
	my $prefix = "$self->{dir}/nginx";
	mkdir $prefix unless -d $prefix;
	unlink "$prefix/nginx.pid";
	my %fill = (
		PREFIX => $prefix,
		LISTEN => "127.0.0.1:$self->{ports}{nginx}",
		FCGI_SOCKET => $self->{socket},
		SSE_LISTEN => $self->sse_listen,
		NGINX_DIR => "$REPO/nginx",
		LIMITS_CONF => $self->_limits_conf($prefix),
	);
	my $conf = $self->_slurp("$REPO/nginx/dev.conf.in");
	$conf =~ s/\@(PREFIX|LISTEN|FCGI_SOCKET|SSE_LISTEN|NGINX_DIR|LIMITS_CONF)\@/$fill{$1}/g;
	die "nginx/dev.conf.in: unknown placeholder $1\n" if $conf =~ /\@([A-Z_]+)\@/;
	_write_file("$prefix/nginx.conf", $conf);
	my $nginx = -x '/usr/sbin/nginx' ? '/usr/sbin/nginx' : 'nginx';
	$self->_spawn('nginx', "$self->{dir}/nginx.log",
		[ $nginx, '-p', "$prefix/", '-c', "$prefix/nginx.conf" ]);
	# nginx writes its pid file after it has bound its listening socket.
	$self->_poll('nginx to listen', sub {
		$self->_assert_alive('nginx');
		return -s "$prefix/nginx.pid";
	});
}

# The rate limits' file for dev.conf.in's @LIMITS_CONF@: production's
# nginx/incidentd-limits.conf, or a copy in $prefix with every rate times the
# rate_limits factor (bursts, in incidentd-locations.conf, stay).
sub _limits_conf {
	my ($self, $prefix) = @_;
	my $file = "$REPO/nginx/incidentd-limits.conf";
	my $factor = $self->{opts}{rate_limits} // $RATE_LIMITS;
	croak "rate_limits must be a number >= 0, not '$factor'"
	    unless Scalar::Util::looks_like_number($factor) && $factor >= 0;
	return $file if $factor == 1;
	$factor = 1_000_000 if $factor == 0;
	my $conf = $self->_slurp($file);
	my $n = $conf =~ s{\brate=(\d+)r/([sm])\b}{'rate=' . _scaled_rate($1, $2, $factor)}ge;
	die "$file: no rate=N to multiply\n" unless $n;
	_write_file("$prefix/incidentd-limits.conf", $conf);
	return "$prefix/incidentd-limits.conf";
}

# $n requests per $unit (s or m) times $factor, as nginx writes a rate: whole
# requests per second, or per minute below one a second (a test that wants a
# bucket to stay empty for seconds asks for a small factor).
sub _scaled_rate {
	my ($n, $unit, $factor) = @_;
	my $per_s = $n * $factor / ($unit eq 'm' ? 60 : 1);
	return POSIX::ceil($per_s) . 'r/s' if $per_s >= 1;
	return POSIX::ceil($per_s * 60) . 'r/m';
}

# ---------------------------------------------------------------- incidentd

sub _write_config {
	my ($self) = @_;
	my %conf = (
		listen => $self->{socket},
		socket_mode => '0660',    # as script/server: nginx runs as our user
		workers => $self->{opts}{workers} // 2,
		database => $self->sql_conninfo,
		redis => "127.0.0.1:$self->{ports}{redis}",
		# Added hosts sit behind the same public name, as behind a balancer.
		public_base_url => $self->{public_base_url} // $self->url,
		sql_dir => "$REPO/sql",
		sse_listen => $self->sse_listen,
		# Fast heartbeats: a test sees several within seconds.
		heartbeat => 1,
		# The test receivers listen on loopback.
		webhook_allow_private => ($self->{opts}{webhook_allow_private} // 1) ? 'yes' : 'no',
		webhook_delivery => ($self->{opts}{hooks} // 1) ? 'yes' : 'no',
		# Workers and incidentd-sse finish their leak check before the
		# master's drain would kill them.
		$VALGRIND ? (shutdown_timeout => 10 * $SLOWDOWN) : (),
		%{ $self->{opts}{config} // {} },
		# One worker under valgrind: each is a whole memcheck instance on
		# two shared cores, and one sees every request, so every route.
		$VALGRIND ? (workers => 1) : (),
	);
	$self->{conf} = \%conf;
	_write_file($self->{config_file},
		"# written by IncidentdTest for $self->{test_name}\n",
		map { "$_ = $conf{$_}\n" } sort keys %conf);
}

# wait => 0: return as soon as the master is spawned (a test of what happens
# while it is starting), without waiting for it to answer.
sub start_incidentd {
	my ($self, %o) = @_;
	croak 'incidentd is already running' if $self->{children}{incidentd};
	$self->_spawn('incidentd', $self->_incidentd_log,
		[ $self->_valgrind_argv, "$self->{build}/src/incidentd", '-c', $self->{config_file} ],
		clean_env => 1);
	return if defined $o{wait} && !$o{wait};
	# Ready when a worker answers through nginx: nginx says 502 while the
	# socket is missing or stale. /healthz itself may be 503 (Redis stopped).
	my $r;
	$self->_poll('incidentd to answer through nginx', sub {
		$self->_assert_alive('incidentd', 'nginx');
		return 0 unless -S $self->{socket};
		$r = $self->req(GET => '/healthz');
		return $r->{status} != 502 && $r->{status} != 504 && $r->{status} != 599;
	}, sub { $r ? "last answer: $r->{status} $r->{content}" : 'no socket' });
	$self->_wait_sse;
}

# A unix socket in the test's directory (as production's sse_listen), or
# with $tcp a free loopback port.
sub _choose_sse_listen {
	my ($self, $tcp) = @_;
	if ($tcp) {
		$self->{ports}{sse} = $self->_free_port;
	} else {
		$self->{sse_socket} = "$self->{dir}/sse.sock";
	}
}

# Ready when the master has started incidentd-sse and its socket accepts
# connections.
sub _wait_sse {
	my ($self, $not_pid) = @_;
	my $pid;
	$self->_poll("incidentd-sse to accept connections on " . $self->sse_listen, sub {
		$self->_assert_alive('incidentd');
		$pid = $self->sse_pid or return 0;
		return 0 if $not_pid && $pid == $not_pid;
		return $self->{sse_socket} ? _unix_open($self->{sse_socket}) : _port_open($self->{ports}{sse});
	}, sub { $pid ? "incidentd-sse is pid $pid" : 'the master has no incidentd-sse child' });
}

sub _unix_open {
	my ($path) = @_;
	my $sock = IO::Socket::UNIX->new(Peer => $path, Type => SOCK_STREAM) or return 0;
	close $sock;
	return 1;
}

sub _port_open {
	my ($port) = @_;
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
		Proto => 'tcp', Timeout => 2) or return 0;
	close $sock;
	return 1;
}

# SIGTERM: the master drains its workers and must exit 0 by itself. What goes
# wrong here is reported by finish.
sub stop_incidentd {
	my ($self) = @_;
	my $pid = $self->{children}{incidentd} or croak 'incidentd is not running';
	my $grace = ($self->{conf}{shutdown_timeout} // 10) + 10;
	my $status = $self->_stop_child('incidentd', 'TERM', $grace);
	if (!defined $status) {
		push @{ $self->{problems} }, "incidentd master $pid did not exit within ${grace}s of SIGTERM";
	} elsif ($status != 0) {
		push @{ $self->{problems} }, "incidentd master $pid exited with " . _describe_status($status);
	}
	# Workers must not outlive their master.
	if (kill 0, -$pid) {
		push @{ $self->{problems} }, "processes of incidentd $pid outlived the master";
		kill 'KILL', -$pid;
	}
	return $status;
}

sub _incidentd_log { "$_[0]{dir}/incidentd.log" }

# The master's worker processes: its children running the same program (so
# not a separately exec'd helper such as incidentd-sse), zombies excluded.
sub worker_pids {
	my ($self) = @_;
	my $master = $self->{children}{incidentd} or return ();
	my $program = _proc_program($master) // return ();
	my @pids;
	for my $stat (glob '/proc/[0-9]*/stat') {
		my ($pid, $state, $ppid) = _proc_stat($stat) or next;
		next unless $ppid == $master && $state ne 'Z';
		push @pids, $pid if (_proc_program($pid) // '') eq $program;
	}
	return sort { $a <=> $b } @pids;
}

# Kills one worker (SIGKILL unless sig => NAME) and waits until the master has
# replaced it. Returns the killed pid. finish does not count it as a crash.
sub kill_worker {
	my ($self, %o) = @_;
	my @before = $self->worker_pids or croak 'no incidentd worker is running';
	my $pid = $o{pid} // $before[0];
	my $want = $self->{conf}{workers};
	$self->{killed_workers}{$pid} = 1;
	kill $o{sig} // 'KILL', $pid or croak "kill $pid: $!";
	$self->_poll("incidentd to replace worker $pid", sub {
		my @now = $self->worker_pids;
		return @now == $want && !grep { $_ == $pid } @now;
	});
	return $pid;
}

# The master's live children running $program (exec'd, so their executable
# differs from the master's), lowest pid first.
sub _helper_pids {
	my ($self, $program) = @_;
	my $master = $self->{children}{incidentd} or return ();
	my @pids;
	for my $stat (glob '/proc/[0-9]*/stat') {
		my ($pid, $state, $ppid) = _proc_stat($stat) or next;
		next unless $ppid == $master && $state ne 'Z';
		push @pids, $pid if (_proc_program($pid) // '') =~ /^(?:lt-)?\Q$program\E$/;
	}
	return sort { $a <=> $b } @pids;
}

# The master's incidentd-sse child, or undef.
sub sse_pid { ($_[0]->_helper_pids('incidentd-sse'))[0] }

# Kills incidentd-sse (SIGKILL unless sig => NAME) and waits until the master
# has started a new one and its port accepts connections. Returns the killed
# pid. finish does not count it as a crash. then => CODE runs right after the
# kill, before the wait: a write there is published while no incidentd-sse
# runs, so streams only get it by replay when they reconnect.
sub kill_sse {
	my ($self, %o) = @_;
	my $pid = $self->sse_pid or croak 'incidentd-sse is not running';
	$self->{killed_workers}{$pid} = 1;
	kill $o{sig} // 'KILL', $pid or croak "kill $pid: $!";
	$o{then}->() if $o{then};
	$self->_wait_sse($pid);
	return $pid;
}

# The master's incidentd-hooks child (the first, with hooks_processes > 1),
# or undef; hooks_pids: all of them.
sub hooks_pid { ($_[0]->_helper_pids('incidentd-hooks'))[0] }
sub hooks_pids { $_[0]->_helper_pids('incidentd-hooks') }

# Kills incidentd-hooks (pid => P, else the first; SIGKILL unless sig =>
# NAME) and waits until the master has started another in its place.
# Returns the killed pid; finish does not count it as a crash.
sub kill_hooks {
	my ($self, %o) = @_;
	my @before = $self->hooks_pids or croak 'incidentd-hooks is not running';
	my $pid = $o{pid} // $before[0];
	$self->{killed_workers}{$pid} = 1;
	kill $o{sig} // 'KILL', $pid or croak "kill $pid: $!";
	$self->_poll("incidentd to start another incidentd-hooks", sub {
		my @now = $self->hooks_pids;
		return @now == @before && !grep { $_ == $pid } @now;
	});
	return $pid;
}

# Sets keys in the running configuration file (key => value; one not there
# is added), sends the master SIGHUP and waits until every worker is a new
# one: the reload is done.  False when the workers were not replaced.
sub reload {
	my ($self, %set) = @_;
	my $file = $self->{config_file};
	open my $in, '<', $file or croak "$file: $!";
	my @lines = <$in>;
	close $in;
	for my $line (@lines) {
		my ($key) = $line =~ /^(\w+)\s*=/ or next;
		$line = "$key = " . delete($set{$key}) . "\n" if exists $set{$key};
	}
	push @lines, map { "$_ = $set{$_}\n" } sort keys %set;
	_write_file("$file.tmp", join '', @lines);
	rename "$file.tmp", $file or croak "rename: $!";
	my @before = $self->worker_pids;
	my %old = map { $_ => 1 } @before;
	kill 'HUP', $self->incidentd_pid or croak "kill: $!";
	my $deadline = time + 20 * $SLOWDOWN;
	while (time < $deadline) {
		my @now = $self->worker_pids;
		return 1 if @now == @before && !grep { $old{$_} } @now;
		sleep 0.05;
	}
	return 0;
}

# Test builds: moves incidentd-hooks's clock $seconds ahead of the real one
# (its retry schedule; read once a second, so wait a tick after it).
sub set_hooks_clock {
	my ($self, $seconds) = @_;
	_write_file("$self->{config_file}.clock.tmp", int($seconds) . "\n");
	rename "$self->{config_file}.clock.tmp", "$self->{config_file}.clock"
	    or croak "rename: $!";
}

# ---------------------------------------------------------------- valgrind

# Under INCIDENTD_VALGRIND=1, memcheck watches the master and, through
# --trace-children and --child-silent-after-fork=no, every worker it forks and
# the incidentd-sse it execs. Each process writes its own log; finish reads
# them all once SIGTERM has let every process run its normal cleanup, so that
# "definitely lost" means memory the code forgot, not memory a kill cut short.

# True under INCIDENTD_VALGRIND=1: a test may skip what memcheck makes
# meaningless (timings, thousands of streams) or scale its numbers down.
sub valgrind { $VALGRIND }

# The factor by which deadlines that wait on incidentd grow (1 normally).
sub slowdown { $SLOWDOWN }

# The exit status memcheck gives a process with errors (and definite leaks,
# which --errors-for-leak-kinds=definite makes errors).
my $VALGRIND_EXIT = 97;

# No --track-origins (it doubles memcheck's cost): to see where an
# uninitialised value came from, run with VALGRIND_OPTS=--track-origins=yes,
# which reaches valgrind through the cleaned environment.

sub _valgrind_argv {
	my ($self) = @_;
	return () unless $VALGRIND;
	return ('valgrind', '--tool=memcheck', '--trace-children=yes',
		'--child-silent-after-fork=no', '--leak-check=full',
		'--errors-for-leak-kinds=definite', '--show-leak-kinds=definite',
		"--error-exitcode=$VALGRIND_EXIT", "--suppressions=$REPO/t/valgrind.supp",
		'--num-callers=30', "--log-file=$self->{dir}/valgrind.%p.log");
}

# One text per problem in this host's valgrind logs: a process with memcheck
# errors or definitely lost bytes (with its report), or one that never reached
# its leak check because it did not exit through its normal path (a process
# the test killed on purpose excepted). Only the first call looks (finish and
# each host's DESTROY must not report one log twice).
sub _valgrind_problems {
	my ($self) = @_;
	return () if !$VALGRIND || $self->{valgrind_checked}++;
	my @problems;
	for my $log (sort glob "$self->{dir}/valgrind.*.log") {
		my ($pid) = $log =~ /valgrind\.(\d+)\.log$/;
		my $text = $self->_slurp($log);
		my ($command) = $text =~ /^==\d+== Command: (.*)$/m;
		my $who = "pid $pid (" . ($command // 'unknown command') . "), $log";
		my @errors = $text =~ /ERROR SUMMARY: ([\d,]+) errors?/g;
		my @lost = $text =~ /definitely lost: ([\d,]+) bytes/g;
		if (!@errors) {
			push @problems, "$who: no ERROR SUMMARY, so no leak check: the process "
			    . 'did not exit normally' unless $self->{killed_workers}{$pid};
			next;
		}
		my ($n, $bytes) = map { tr/,//dr } $errors[-1], $lost[-1] // 0;
		next unless $n > 0 || $bytes > 0;
		push @problems, "$who: $n errors, $bytes bytes definitely lost\n"
		    . _valgrind_report($text);
	}
	return @problems;
}

# A log without its preamble (version, command line), at most 150 lines.
sub _valgrind_report {
	my ($text) = @_;
	my @lines = split /\n/, $text;
	my ($start) = grep { $lines[$_] =~ /== Parent PID:/ } 0 .. $#lines;
	splice @lines, 0, $start + 1 if defined $start;
	splice @lines, 150, @lines - 150, '... (cut; the whole log is kept)' if @lines > 150;
	return join "\n", @lines;
}

# ---------------------------------------------------------------- more hosts

# A second (third ...) host, as in nginx/multi-host.conf: its own incidentd
# master (with its own FastCGI socket, workers and incidentd-sse on its own
# port) and its own nginx, on the same database, Redis and org as this one.
# Returns an instance with the same methods (url, req, stream, key, sse_pid,
# kill_sse, log ...); this instance's finish stops it and checks its log.
sub add_host {
	my ($self, %o) = @_;
	croak 'add_host on an added host' if $self->{is_host};
	my $n = @{ $self->{hosts} } + 2;
	my $host = bless {
		opts => $self->{opts},
		owner => $$,
		children => {},
		killed_workers => {},
		problems => [],
		ports => +{ $o{own_redis} ? () : (redis => $self->{ports}{redis}) },
		used_port => $self->{used_port},
		hosts => [],
		map({ $_ => $self->{$_} } qw(build test_name pg db org)),
		dir => "$self->{dir}/host$n",
		is_host => 1,
		public_base_url => $self->url,
		host_opts => \%o,
	}, ref $self;
	$host->{config_file} = "$host->{dir}/incidentd.conf";
	$host->{socket} = "$host->{dir}/incidentd.sock";
	push @{ $self->{hosts} }, $host;
	unless (eval { $host->_start_host; 1 }) {
		my $err = $@;
		my $context = $host->_log_tails;
		$host->_stop_all;
		die "IncidentdTest: add_host failed: $err$context\n(logs kept in $host->{dir})\n";
	}
	return $host;
}

sub _start_host {
	my ($self) = @_;
	mkdir $self->{dir} or die "mkdir $self->{dir}: $!\n";
	chmod 0711, $self->{dir};
	$self->_choose_sse_listen($self->{host_opts}{sse_tcp});
	$self->_start_with_free_port('redis', sub { $self->start_redis }) unless $self->{ports}{redis};
	$self->_start_with_free_port('nginx', sub { $self->_start_nginx });
	$self->_write_config;
	$self->start_incidentd;
	$self->_wait_healthy;
}

# ---------------------------------------------------------------- processes

# Forks and execs $argv with stdin from /dev/null and stdout+stderr appended
# to $log, in a process group of its own (so stopping it also reaches any
# children it left behind). Records it under $name.
sub _spawn {
	my ($self, $name, $log, $argv, %o) = @_;
	my $pid = fork // die "fork: $!\n";
	if ($pid == 0) {
		eval {
			POSIX::setpgid(0, 0);
			open STDIN, '<', '/dev/null' or die "stdin: $!";
			open STDOUT, '>>', $log or die "$log: $!";
			open STDERR, '>&', \*STDOUT or die "stderr: $!";
			_child_setup(%o, pdeathsig => $o{pdeathsig} // POSIX::SIGTERM());
			exec { $argv->[0] } @$argv or die "exec $argv->[0]: $!";
		};
		print STDERR "IncidentdTest: $name: $@";
		POSIX::_exit(127);
	}
	POSIX::setpgid($pid, $pid);    # also here: no race with an early kill
	$self->{children}{$name} = $pid;
	return $pid;
}

# Runs $argv to completion (killed after $TIMEOUT s); returns (exit code,
# stdout, stderr). Options: log => file that also gets both outputs,
# as_postgres => 1, clean_env => 1.
sub _capture {
	my ($self, $argv, %o) = @_;
	my $out = "$self->{dir}/.capture.out.$$";
	my $err = "$self->{dir}/.capture.err.$$";
	my $pid = fork // die "fork: $!\n";
	if ($pid == 0) {
		eval {
			open STDIN, '<', '/dev/null' or die "stdin: $!";
			open STDOUT, '>', $out or die "$out: $!";
			open STDERR, '>', $err or die "$err: $!";
			_child_setup(%o, pdeathsig => POSIX::SIGTERM());
			exec { $argv->[0] } @$argv or die "exec $argv->[0]: $!";
		};
		print STDERR "IncidentdTest: $@";
		POSIX::_exit(127);
	}
	my $status = _wait_pid($pid, $TIMEOUT);
	if (!defined $status) {
		kill 'KILL', $pid;
		$status = _wait_pid($pid, 5) // -1;
	}
	my ($stdout, $stderr) = ($self->_slurp($out), $self->_slurp($err));
	unlink $out, $err;
	if ($o{log}) {
		_append_file($o{log}, "\$ @$argv\n$stdout$stderr", "exit: " . _describe_status($status) . "\n");
	}
	my $code = $status & 127 ? 128 + ($status & 127) : $status >> 8;
	return ($code, $stdout, $stderr);
}

# In a forked child before exec: reset signals, drop to the postgres user when
# asked, strip INCIDENTD_* overrides (the config file says everything), and
# ask the kernel to signal the child when this test process dies.
sub _child_setup {
	my (%o) = @_;
	# Ignored signals stay ignored across exec: give the servers the
	# dispositions they would have in production (a server that forgets to
	# ignore SIGPIPE must fail here too).
	$SIG{$_} = 'DEFAULT' for qw(PIPE INT TERM HUP QUIT);
	if ($o{as_postgres} && $> == 0) {
		my ($uid, $gid, $home) = (getpwnam 'postgres')[ 2, 3, 7 ];
		defined $uid or die "no user 'postgres'";
		$) = "$gid $gid";
		POSIX::setgid($gid) or die "setgid: $!";
		POSIX::setuid($uid) or die "setuid: $!";
		die "could not become postgres" unless $> == $uid && $< == $uid;
		@ENV{qw(HOME USER LOGNAME)} = ($home, 'postgres', 'postgres');
	}
	if ($o{clean_env}) {
		delete $ENV{$_} for grep { /^INCIDENTD_/ } keys %ENV;
	}
	# After the uid change: the kernel clears this setting on one.
	syscall($SYS_prctl, PR_SET_PDEATHSIG, $o{pdeathsig}) if $SYS_prctl && $o{pdeathsig};
}

# Sends $sig and waits up to $grace seconds; then SIGKILLs the process group.
# Returns the wait status, or undef when it had to be killed.
sub _stop_child {
	my ($self, $name, $sig, $grace) = @_;
	my $pid = delete $self->{children}{$name} or return undef;
	kill $sig, $pid;
	my $status = _wait_pid($pid, $grace // 15);
	return $status if defined $status;
	kill 'KILL', -$pid, $pid;
	_wait_pid($pid, 5);
	return undef;
}

sub _assert_alive {
	my ($self, @names) = @_;
	for my $name (@names) {
		my $pid = $self->{children}{$name} or die "$name is not running\n";
		my $status = _wait_pid($pid, 0);
		next unless defined $status;
		delete $self->{children}{$name};
		die "$name exited: " . _describe_status($status) . "\n";
	}
}

# waitpid with a deadline; returns the wait status or undef on timeout.
# Leaves the caller's $? alone (perl derives a dying test's exit code from it).
sub _wait_pid {
	my ($pid, $timeout) = @_;
	local $?;
	my $deadline = time + $timeout;
	while (1) {
		my $r = waitpid $pid, WNOHANG;
		if ($r == $pid) { my $status = $?; return $status }
		return 0 if $r == -1;    # not our child (already reaped)
		return undef if time > $deadline;
		sleep 0.02;
	}
}

# Calls $check until it returns true; dies after $TIMEOUT seconds. Never a
# fixed sleep: the pause between checks is short and the deadline bounded.
sub _poll {
	my ($self, $what, $check, $detail) = @_;
	my $deadline = time + $TIMEOUT;
	my $pause = 0.01;
	until ($check->()) {
		if (time > $deadline) {
			my $more = $detail ? ': ' . $detail->() : '';
			die "timed out after ${TIMEOUT}s waiting for $what$more\n";
		}
		sleep $pause;
		$pause = 0.2 if ($pause *= 2) > 0.2;
	}
}

# A server that could not bind its port (another test took it between our
# probe and its bind) exits; try again on another port.
sub _start_with_free_port {
	my ($self, $name, $start) = @_;
	for my $try (1 .. 5) {
		$self->{ports}{$name} = $self->_free_port;
		return if eval { $start->(); 1 };
		my $err = $@;
		my $log = $self->_slurp("$self->{dir}/$name.log");
		die $err if $try == 5 || $log !~ /in use/i;
	}
}

# A free loopback port below the kernel's ephemeral range (so no outgoing
# connection of this machine can hold it), found by binding it.
sub _free_port {
	my ($self) = @_;
	my ($low) = split ' ', $self->_slurp('/proc/sys/net/ipv4/ip_local_port_range') || '32768';
	$low = 32768 if !$low || $low <= 12000;
	for (1 .. 500) {
		my $port = 10000 + int rand($low - 10000);
		next if $self->{used_port}{$port};
		my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
			Proto => 'tcp', Listen => 1, ReuseAddr => 1) or next;
		close $sock;
		$self->{used_port}{$port} = 1;
		return $port;
	}
	die "no free port found\n";
}

sub _proc_stat {
	my ($file) = @_;
	open my $fh, '<', $file or return;
	my $line = <$fh> // return;
	# "pid (comm) state ppid pgrp ..." — comm may hold spaces and parens.
	$line =~ /^(\d+) \(.*\) (\S) (\d+)/s or return;
	return ($1, $2, $3);
}

# The name of the program a process runs: its executable's, or under
# valgrind (whose tool is every process's executable) the first argument
# after valgrind's options. undef when the process is gone.
sub _proc_program {
	my ($pid) = @_;
	my $exe = readlink "/proc/$pid/exe" // return undef;
	$exe =~ s/ \(deleted\)$//;
	return basename($exe) unless $exe =~ m{/valgrind/};
	open my $fh, '<', "/proc/$pid/cmdline" or return undef;
	my @argv = split /\0/, do { local $/; <$fh> // '' };
	shift @argv;
	shift @argv while @argv && $argv[0] =~ /^-/;
	return @argv ? basename($argv[0]) : undef;
}

sub _describe_status {
	my ($status) = @_;
	return 'no status' unless defined $status;
	return 'signal ' . ($status & 127) if $status & 127;
	return 'status ' . ($status >> 8);
}

# ---------------------------------------------------------------- files

sub _test_name {
	(my $name = basename($0)) =~ s/\.t$//;
	return $name;
}

sub _slurp {
	my ($self, $file) = @_;
	open my $fh, '<', $file or return '';
	local $/;
	return scalar <$fh> // '';
}

sub _write_file {
	my ($file, @content) = @_;
	open my $fh, '>', $file or die "$file: $!\n";
	print $fh @content;
	close $fh or die "$file: $!\n";
}

sub _append_file {
	my ($file, @content) = @_;
	open my $fh, '>>', $file or die "$file: $!\n";
	print $fh @content;
	close $fh;
}

# The last lines of every log, for a start-up failure message.
sub _log_tails {
	my ($self) = @_;
	my $text = '';
	for my $name (qw(incidentd incidentctl nginx redis postgres initdb)) {
		my @lines = split /\n/, $self->_slurp("$self->{dir}/$name.log");
		push @lines, split /\n/, $self->_slurp("$self->{dir}/nginx/error.log") if $name eq 'nginx';
		next unless @lines;
		splice @lines, 0, @lines - 15 if @lines > 15;
		$text .= "\n--- $name (last lines) ---\n" . join("\n", @lines);
	}
	return $text;
}

1;
