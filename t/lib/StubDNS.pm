package StubDNS;

# A DNS server for the tests, on a free UDP port of 127.0.0.1, that answers
# every A query with one address after a delay: a slow resolver, to show
# that resolving a name never stalls incidentd-sse's loop. Other query types
# get an empty answer (NOERROR), so a resolver asking for AAAA too is not
# left waiting. It runs in a child process, killed by stop or DESTROY.
#
#     my $dns = StubDNS->new(delay => 2, address => '127.0.0.1');
#     $dns->port;  $dns->queries;  # A queries answered so far (from its log)
#     $dns->stop;

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Socket qw(inet_aton);
use Time::HiRes qw(time);

sub new {
	my ($class, %o) = @_;
	my $sock = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => 0)
	    or die "StubDNS: socket: $!\n";
	my $self = bless { port => $sock->sockport, log => $o{log} // "/dev/null",
		delay => $o{delay} // 0, address => $o{address} // '127.0.0.1' }, $class;
	my $pid = fork // die "StubDNS: fork: $!\n";
	if (!$pid) {
		eval { $self->_serve($sock) };
		POSIX::_exit(0);
	}
	close $sock;
	$self->{pid} = $pid;
	return $self;
}

sub port { $_[0]{port} }

sub queries {
	my ($self) = @_;
	open my $fh, '<', $self->{log} or return 0;
	my $n = () = join('', <$fh>) =~ /^A /mg;
	return $n;
}

# Replies wait in @due until their time; new queries keep arriving meanwhile.
sub _serve {
	my ($self, $sock) = @_;
	open my $log, '>>', $self->{log} or die "StubDNS: $self->{log}: $!\n";
	$log->autoflush(1);
	my $sel = IO::Select->new($sock);
	my @due;
	while (1) {
		my $wait = @due ? $due[0][0] - time : 1;
		if ($sel->can_read($wait > 0 ? $wait : 0)) {
			my $peer = $sock->recv(my $query, 512);
			my ($reply, $type, $name) = $self->_answer($query);
			if ($reply) {
				print $log "$type $name\n";
				push @due, [ time + $self->{delay}, $reply, $peer ];
				@due = sort { $a->[0] <=> $b->[0] } @due;
			}
		}
		while (@due && $due[0][0] <= time) {
			my (undef, $reply, $peer) = @{ shift @due };
			send $sock, $reply, 0, $peer;
		}
	}
}

# The response to one query: header, the question as asked, and for an A
# query one answer pointing back at the question's name (0xC00C).
sub _answer {
	my ($self, $q) = @_;
	return () if length $q < 17;
	my ($id, undef, $qdcount) = unpack 'n n n', $q;
	return () unless $qdcount == 1;
	my ($pos, @labels) = (12);
	while ((my $len = ord substr($q, $pos, 1)) != 0) {
		return () if $len > 63 || $pos + 1 + $len > length $q;
		push @labels, substr($q, $pos + 1, $len);
		$pos += 1 + $len;
	}
	$pos++;
	return () if $pos + 4 > length $q;
	my ($qtype) = unpack 'n', substr($q, $pos, 2);
	my $question = substr($q, 12, $pos + 4 - 12);
	my $a = $qtype == 1;
	my $head = pack 'n n n n n n', $id, 0x8180, 1, $a ? 1 : 0, 0, 0;
	my $answer = $a ? pack('n n n N n', 0xC00C, 1, 1, 0, 4) . inet_aton($self->{address}) : '';
	return ($head . $question . $answer, $a ? 'A' : "type$qtype", join('.', @labels));
}

sub stop {
	my ($self) = @_;
	my $pid = delete $self->{pid} or return;
	kill 'KILL', $pid;
	waitpid $pid, 0;
}

sub DESTROY { $_[0]->stop }

1;
