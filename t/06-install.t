#!/usr/bin/env perl
# `make install` (README: deployment) installs every program and every
# migration: incidentctl migrate reads sql_dir, PREFIX/share/incidentd/sql
# by default, so a migration left out of Makefile.am's list is a schema
# the installed server never gets.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(basename dirname);
use File::Temp qw(tempdir);
use Test::More;

my $repo = abs_path(dirname(abs_path(__FILE__)) . '/..');
my $build = $ENV{INCIDENTD_BUILD} || "$repo/build/test";
plan skip_all => "$build is not configured" unless -f "$build/Makefile";

my $dest = tempdir('incidentd-install.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $out = `make -s -C '$build' install DESTDIR='$dest' 2>&1`;
is($?, 0, 'make install succeeds') or diag($out);

my ($prefix) = `make -s -C '$build' -f Makefile -f - print-prefix 2>/dev/null <<'MK'
print-prefix:
	\@echo \$(prefix)
MK` =~ /(\S+)/;
ok(defined $prefix, "the build's prefix: " . ($prefix // '?'));
$prefix //= '/usr/local';

my @want = sort map { basename($_) } glob("$repo/sql/*.sql");
my @got = sort map { basename($_) } glob("$dest$prefix/share/incidentd/sql/*.sql");
ok(@want > 0, scalar(@want) . ' migrations in sql/');
is_deeply(\@got, \@want, 'every migration in sql/ is installed');
for my $prog (qw(incidentd incidentd-sse incidentd-hooks incidentctl)) {
	ok(-x "$dest$prefix/bin/$prog" || -x "$dest$prefix/sbin/$prog", "$prog installed");
}

done_testing();
