#!/usr/bin/perl
# The public status page in a real browser: headless Chromium (Debian's)
# driven by puppeteer-core (t/browser/status-page.js). Hostile text shows as
# text; a reply and a status change arrive live, newest first; a killed
# incidentd-sse shows "Reconnecting…", then "Live" and the missed update; the
# resolved banner; no failed request, console error or CSP violation; axe-core
# finds nothing in the light and dark schemes and at 360 px; the Atom feed
# parses and matches the page; a screenshot for the README.
#
# The Node script reports each check as a JSON line that becomes an ok() here,
# and asks this side for what only the harness can do (kill incidentd-sse).
# INCIDENTD_SCREENSHOT=FILE: where the screenshot goes (default: the test's
# temp dir, kept when the test fails).
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use IPC::Open2 qw(open2);
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(time sleep);
use Cwd qw(abs_path);
use IncidentdTest;

my $CHROMIUM = '/usr/bin/chromium';
my $BROWSER_DIR = 't/browser';
plan skip_all => "chromium not installed: no $CHROMIUM (script/bootstrap installs Debian's chromium)"
    unless -x $CHROMIUM;
plan skip_all => "puppeteer-core not installed: no $BROWSER_DIR/node_modules "
    . '(t/browser/install, which script/test runs, installs it)'
    unless -d "$BROWSER_DIR/node_modules/puppeteer-core" && -d "$BROWSER_DIR/node_modules/axe-core";

my $JSON = JSON::PP->new->utf8->canonical;
binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);
my $SLOW = IncidentdTest::slowdown();

my $s = IncidentdTest->new;
my $W = $s->key('write');

# at => epoch: the write's time (X-Test-Now: test builds take it as "now").
sub api {
	my ($method, $path, $body, %o) = @_;
	my $r = $s->req($method, $path, key => $o{key} // $W, defined $body ? (body => $body) : (),
		defined $o{at} ? (headers => { 'X-Test-Now' => int $o{at} }) : ());
	die "$method $path: $r->{status} $r->{content}\n" unless $r->{status} =~ /^2/;
	return $r->{json};
}

# The org's display name: the name customers see on its pages.
sub rename_org {
	my ($name, $display) = @_;
	my ($code, undef, $err) = $s->incidentctl('org', 'rename', $name, $display);
	die "incidentctl org rename $name: exit $code: $err\n" if $code;
}

# --- the hostile incident ------------------------------------------------------------------
my %expect = (
	title => q{<script>alert("title")</script></title><img src=x onerror=alert(1)> "Quotes" & 'apostrophes' — Ünïcode},
	org => q{</title><script>alert("org")</script><img src=x onerror=alert(2)> "Acme" & Co},
	internal => 'INTERNAL-NOTE-' . int(rand(1e9)),
	live_reply => q{<img src=x onerror=alert(3)> a "live" reply </title> & more},
	monitoring => q{<b>Fix deployed</b>; watching <script>alert(4)</script>},
	missed => q{Posted while the stream was down <i>missed</i> & replayed},
	resolved => q{All clear </p><p>really},
	long_word => join(' ', 'x' x 300,
		'https://status.example.com/a/very/long/path/' . join('/', map { "segment$_" } 1 .. 30) . '?q=' . ('y' x 60)),
	light => 'An update read in the light scheme',
	dark => 'An update read in the dark scheme',
	status => 'investigating',
	status_word => 'Investigating',
);
rename_org($s->org_name, $expect{org});
my $inc = api(POST => '/v1/tickets', { title => $expect{title} });
my @bodies = (
	q{<img src=x onerror=alert(5)> first "update"},
	q{</title><script>alert(6)</script> & second 'update'},
);
# a status change without a message: an entry without a body
api(PATCH => "/v1/tickets/$inc->{id}", { status => 'acknowledged' });
api(PATCH => "/v1/tickets/$inc->{id}", { status => 'investigating', message => $bodies[0] });
api(POST => "/v1/tickets/$inc->{id}/replies", { body => "$expect{internal} at start", internal => JSON::PP::true });
api(POST => "/v1/tickets/$inc->{id}/replies", { body => $bodies[1] });
$expect{bodies} = [ reverse @bodies ];

# --- an ordinary incident for the README's screenshot (another org) -------------------------
my $acme = $s->new_org('acme');
rename_org('acme', 'Acme Cloud');
my $AW = $acme->{keys}{write};
# Written over the last hour, so the page shows times a reader would see.
my $now = time;
my $show = api(POST => '/v1/tickets', { title => 'Elevated error rates on the EU API', severity => 'high' },
	key => $AW, at => $now - 52 * 60);
for my $step (
	[ 50, investigating => 'We are seeing elevated 5xx error rates for API requests in the EU region and are investigating.' ],
	[ 31, identified => 'The cause is a failed database failover in one availability zone. Traffic is being moved away from it.' ],
	[ 12, monitoring => 'Error rates are back to normal. We are monitoring the database cluster while the failed node is replaced.' ],
) {
	my ($ago, $status, $message) = @$step;
	api(PATCH => "/v1/tickets/$show->{id}", { status => $status, message => $message },
		key => $AW, at => $now - $ago * 60);
}

# --- the browser ----------------------------------------------------------------------------
my $screenshot = $ENV{INCIDENTD_SCREENSHOT} || $s->dir . '/status-page.png';
$screenshot = abs_path('.') . "/$screenshot" unless $screenshot =~ m{^/};
my %setup = (
	chromium => $CHROMIUM,
	base => $s->url,
	token => $inc->{customer_token},
	incident_id => $inc->{id},
	key => $W,
	showcase_token => $show->{customer_token},
	screenshot => $screenshot,
	timeout_ms => 15_000 * $SLOW,
	expect => \%expect,
);

# Chromium's profile and crash files stay in the test's temp dir.
local $ENV{TMPDIR} = $s->dir;
my $node = open2(my $from, my $to, 'node', "$BROWSER_DIR/status-page.js");
$to->autoflush(1);
print {$to} $JSON->encode(\%setup), "\n";

# What the script may ask: kill incidentd-sse and make a request while it is down.
my %answer = (
	kill_sse => sub {
		my ($m) = @_;
		my $q = $m->{request};
		my $r;
		$s->kill_sse(then => sub { $r = $s->req($q->{method}, $q->{path}, key => $W, body => $q->{body}) });
		return { status => 0 + $r->{status} };
	},
);

my $done;
my $deadline = 300 * $SLOW;
my $ok = eval {
	local $SIG{ALRM} = sub { die "the browser script did not finish within ${deadline}s\n" };
	alarm $deadline;
	while (my $line = <$from>) {
		my $m = eval { $JSON->decode($line) };
		if (ref $m ne 'HASH') {
			diag("status-page.js: $line");
		} elsif (defined $m->{note}) {
			note($m->{note});
		} elsif (exists $m->{ok}) {
			ok($m->{ok}, $m->{name}) or diag($m->{diag} // '');
		} elsif (defined $m->{ask}) {
			my $do = $answer{ $m->{ask} } or die "status-page.js asked for '$m->{ask}'\n";
			print {$to} $JSON->encode($do->($m)), "\n";
		} elsif ($m->{done}) {
			$done = 1;
			last;
		}
	}
	alarm 0;
	1;
};
fail($@) unless $ok;
ok($done, 'the browser script ran to its end');
close $to;
stop_node($node);
diag("screenshot: $screenshot") unless Test::More->builder->is_passing;

$s->finish;
done_testing;

# TERM first: puppeteer closes its Chromium on it. KILL after a grace period.
sub stop_node {
	my ($pid) = @_;
	for my $sig (0, 'TERM', 'KILL') {
		kill $sig, $pid if $sig;
		my $until = time + 10;
		while (time < $until) {
			return if waitpid($pid, POSIX::WNOHANG()) == $pid;
			sleep 0.05;
		}
	}
}
