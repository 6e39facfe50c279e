#!/usr/bin/env perl
# The C unit tests (t/unit/): parsing, validation, routing, SLA maths,
# timestamps, configuration. The binary prints TAP itself.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);

my $repo = abs_path(dirname(abs_path(__FILE__)) . '/..');
my $build = $ENV{INCIDENTD_BUILD} || "$repo/build/test";
my $bin = "$build/t/unit-tests";
unless (-x $bin) {
	print "Bail out! $bin is not built (script/build test --enable-test-clock)\n";
	exit 255;
}
exec $bin or die "exec $bin: $!\n";
