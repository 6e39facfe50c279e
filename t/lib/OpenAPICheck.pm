package OpenAPICheck;
# Checks API responses against openapi.json at the top of the repository.
#
# A small validator for the JSON Schema subset openapi.json uses: type (with
# OpenAPI's nullable), properties, required, additionalProperties (boolean or
# schema), enum, items, minItems/maxItems, uniqueItems, minLength/maxLength
# (code points), minimum/maximum, pattern, format date-time (our output form
# only: YYYY-MM-DDTHH:MM:SSZ), $ref (local), oneOf and allOf. Any other schema
# keyword in openapi.json makes t/10-openapi.t fail, so the file cannot use a
# rule this checker silently ignores.
#
#   use OpenAPICheck;
#   response_ok($r, 'POST', '/v1/tickets', 'create answers per the contract');
#   response_ok($r, 'GET', "/v1/tickets/$id");    # concrete paths map to their template
#
# $r is an HTTP::Tiny response hash (IncidentdTest's req() adds {json}). One
# Test::More assertion; every mismatch is diag()ed. Checks: the status is
# documented for the operation (or in x-global-responses, the only responses a
# path outside openapi.json may get), the Content-Type is
# one the response documents (none for a body-less response), a JSON body parses
# and matches the schema, required response headers are present and match their
# schema, and a body's request_id equals the X-Request-Id header.
use strict;
use warnings;
use B ();
use Exporter 'import';
use File::Basename qw(dirname);
use File::Spec;
use JSON::PP ();
use Test::More ();

our @EXPORT = qw(response_ok);
our @EXPORT_OK = qw(spec schema_errors response_errors resolve_ref component_schema
                    path_template KNOWN_KEYWORDS);

# Every key that may appear in a schema object of openapi.json. The ones the
# validator enforces, plus annotations that carry no rule.
use constant KNOWN_KEYWORDS => [qw(
  type nullable properties required additionalProperties enum items minItems maxItems
  uniqueItems minLength maxLength minimum maximum pattern format $ref oneOf allOf
  description readOnly default example
)];

my $SPEC;

sub spec_path {
  return $ENV{OPENAPI_JSON}
    // File::Spec->catfile(dirname(__FILE__), File::Spec->updir, File::Spec->updir, 'openapi.json');
}

# The decoded openapi.json (loaded once).
sub spec {
  return $SPEC if $SPEC;
  my $file = spec_path();
  open my $fh, '<:raw', $file or die "OpenAPICheck: cannot open $file: $!\n";
  local $/;
  my $text = <$fh>;
  close $fh;
  $SPEC = JSON::PP->new->utf8->decode($text);
  return $SPEC;
}

# Follows a local reference "#/a/b" in $doc (default: the spec). Dies if it does not resolve.
sub resolve_ref {
  my ($ref, $doc) = @_;
  $doc //= spec();
  die "OpenAPICheck: only local references are supported: $ref\n" unless $ref =~ m{^#(/.*)?$};
  my $node = $doc;
  for my $part (grep { length } split m{/}, substr($ref, 1)) {
    $part =~ s/~1/\//g;
    $part =~ s/~0/~/g;
    die "OpenAPICheck: unresolvable reference $ref\n"
      unless ref $node eq 'HASH' && exists $node->{$part};
    $node = $node->{$part};
  }
  return $node;
}

sub component_schema { return resolve_ref("#/components/schemas/$_[0]", $_[1]) }

sub _deref {
  my ($node, $doc) = @_;
  my %seen;
  while (ref $node eq 'HASH' && exists $node->{'$ref'}) {
    die "OpenAPICheck: reference loop at $node->{'$ref'}\n" if $seen{ $node->{'$ref'} }++;
    $node = resolve_ref($node->{'$ref'}, $doc);
  }
  return $node;
}

# JSON type of a value decoded by JSON::PP.
sub json_type {
  my ($v) = @_;
  return 'null' unless defined $v;
  return 'boolean' if JSON::PP::is_bool($v);
  my $r = ref $v;
  return 'object' if $r eq 'HASH';
  return 'array' if $r eq 'ARRAY';
  return "perl $r" if $r;
  my $flags = B::svref_2object(\$v)->FLAGS;
  return 'string' if $flags & B::SVf_POK;
  return 'number' if $flags & (B::SVf_IOK | B::SVf_NOK);
  return 'string';
}

sub _type_ok {
  my ($want, $v, $got) = @_;
  return $got eq 'number' && $v == int($v) if $want eq 'integer';
  return $got eq $want;
}

# A schema pattern as a Perl regex: '$' ends the string (no trailing newline), \d is ASCII.
sub _ecma_regex {
  my ($p) = @_;
  $p =~ s/(?<!\\)\$/\\z/g;
  return qr/$p/a;
}

sub _show {
  my ($v) = @_;
  my $s = JSON::PP->new->canonical->allow_nonref->allow_blessed->encode($v);
  return length $s > 80 ? substr($s, 0, 77) . '...' : $s;
}

sub _equal {
  my ($a, $b) = @_;
  my $j = JSON::PP->new->canonical->allow_nonref;
  return json_type($a) eq json_type($b) && $j->encode($a) eq $j->encode($b);
}

# Validates $data against $schema; returns a list of "location: problem"
# strings (empty when it matches). $at names the location, $doc the document
# references resolve in (default: the spec).
sub schema_errors {
  my ($schema, $data, $at, $doc) = @_;
  $at //= '$';
  $doc //= spec();
  $schema = _deref($schema, $doc);
  my @e;
  my $got = json_type($data);

  for my $sub (@{ $schema->{allOf} || [] }) {
    push @e, schema_errors($sub, $data, $at, $doc);
  }
  if ($schema->{oneOf}) {
    my @results = map { [ schema_errors($_, $data, $at, $doc) ] } @{ $schema->{oneOf} };
    my $matching = grep { !@$_ } @results;
    if ($matching != 1) {
      push @e, "$at: matches $matching of the oneOf schemas, not exactly one"
        . ($matching ? '' : ' (' . join('; ', map { @$_ } @results) . ')');
    }
  }

  if ($got eq 'null') {
    push @e, "$at: null is not allowed" if exists $schema->{type} && !$schema->{nullable};
    return @e;
  }
  if (my $t = $schema->{type}) {
    unless (_type_ok($t, $data, $got)) {
      push @e, "$at: expected $t, got $got " . _show($data);
      return @e;
    }
  }
  if (my $enum = $schema->{enum}) {
    push @e, "$at: " . _show($data) . ' is not one of ' . _show($enum)
      unless grep { _equal($data, $_) } @$enum;
  }

  if ($got eq 'string') {
    my $len = length $data;
    push @e, "$at: length $len is below minLength $schema->{minLength}"
      if defined $schema->{minLength} && $len < $schema->{minLength};
    push @e, "$at: length $len is above maxLength $schema->{maxLength}"
      if defined $schema->{maxLength} && $len > $schema->{maxLength};
    push @e, "$at: " . _show($data) . " does not match pattern $schema->{pattern}"
      if defined $schema->{pattern} && $data !~ _ecma_regex($schema->{pattern});
    if (($schema->{format} // '') eq 'date-time') {
      push @e, "$at: " . _show($data) . ' is not a date-time YYYY-MM-DDTHH:MM:SSZ'
        unless $data =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\z/a;
    }
  }
  if ($got eq 'number') {
    push @e, "$at: $data is below minimum $schema->{minimum}"
      if defined $schema->{minimum} && $data < $schema->{minimum};
    push @e, "$at: $data is above maximum $schema->{maximum}"
      if defined $schema->{maximum} && $data > $schema->{maximum};
  }
  if ($got eq 'array') {
    my $n = @$data;
    push @e, "$at: $n items, fewer than minItems $schema->{minItems}"
      if defined $schema->{minItems} && $n < $schema->{minItems};
    push @e, "$at: $n items, more than maxItems $schema->{maxItems}"
      if defined $schema->{maxItems} && $n > $schema->{maxItems};
    if ($schema->{uniqueItems}) {
      my (%seen, @dups);
      my $j = JSON::PP->new->canonical->allow_nonref;
      for (@$data) { push @dups, _show($_) if $seen{ $j->encode($_) }++ }
      push @e, "$at: duplicate items " . join(', ', @dups) if @dups;
    }
    if (my $items = $schema->{items}) {
      push @e, schema_errors($items, $data->[$_], "$at\[$_]", $doc) for 0 .. $#$data;
    }
  }
  if ($got eq 'object') {
    my $props = $schema->{properties} || {};
    for my $k (@{ $schema->{required} || [] }) {
      push @e, "$at: required property '$k' is missing" unless exists $data->{$k};
    }
    for my $k (sort keys %$data) {
      if (exists $props->{$k}) {
        push @e, schema_errors($props->{$k}, $data->{$k}, "$at.$k", $doc);
        next;
      }
      my $ap = $schema->{additionalProperties};
      next unless defined $ap;
      if (ref $ap eq 'HASH') {
        push @e, schema_errors($ap, $data->{$k}, "$at.$k", $doc);
      } elsif (!$ap) {
        push @e, "$at: property '$k' is not allowed";
      }
    }
  }
  return @e;
}

# The path template of openapi.json a concrete path belongs to ("/v1/tickets/42?x=1"
# -> "/v1/tickets/{id}"); a literal segment wins over a {parameter}. A template
# given as such is returned unchanged; undef if nothing matches.
sub path_template {
  my ($path) = @_;
  my $paths = spec()->{paths};
  $path =~ s/[?#].*//s;
  return $path if $paths->{$path};
  my @segs = split m{/}, $path, -1;
  my ($best, $best_score);
  for my $t (keys %$paths) {
    my @ts = split m{/}, $t, -1;
    next unless @ts == @segs;
    my $score = 0;
    for my $i (0 .. $#ts) {
      if ($ts[$i] =~ /^\{.+\}$/) { next if length $segs[$i] }
      elsif ($ts[$i] eq $segs[$i]) { $score++; next }
      undef $score;
      last;
    }
    ($best, $best_score) = ($t, $score) if defined $score && (!defined $best_score || $score > $best_score);
  }
  return $best;
}

# The response object documented for ($method, $template, $status), from the
# operation's responses or else from x-global-responses; undef if neither has it.
sub _response_doc {
  my ($method, $template, $status) = @_;
  my $spec = spec();
  my $op = $spec->{paths}{$template} ? $spec->{paths}{$template}{lc $method} : undef;
  my $resp = $op && $op->{responses}{$status};
  $resp //= $spec->{'x-global-responses'}{$status};
  return $resp ? _deref($resp) : undef;
}

# Everything wrong with $r as a response of ($method, $path); empty list if nothing.
sub response_errors {
  my ($r, $method, $path) = @_;
  # A path outside openapi.json can only get one of x-global-responses (404 ...).
  my $template = path_template($path) // $path;
  my @e;
  my $status = $r->{status} // '(none)';
  my $doc = _response_doc($method, $template, $status)
    or return (@e, "status $status is not documented for $method $template");

  my %h = map { lc($_) => $r->{headers}{$_} } keys %{ $r->{headers} || {} };
  for my $name (sort keys %{ $doc->{headers} || {} }) {
    my $hd = _deref($doc->{headers}{$name});
    my $v = $h{ lc $name };
    if (!defined $v) {
      push @e, "header $name is missing" if $hd->{required};
      next;
    }
    $v = join ', ', @$v if ref $v eq 'ARRAY';
    push @e, schema_errors($hd->{schema}, $v, "header $name") if $hd->{schema};
  }

  my $content = $doc->{content};
  my $body = $r->{content} // '';
  my $ctype = lc($h{'content-type'} // '');
  $ctype =~ s/\s*;.*//s;
  if (!$content) {
    push @e, 'body should be empty, got ' . length($body) . ' bytes' if length $body;
    return @e;
  }
  my $media = $content->{$ctype};
  return (@e, "Content-Type '$ctype' is not one of " . join(', ', sort keys %$content))
    unless $media;
  return @e unless $ctype eq 'application/json';

  my $data = eval { JSON::PP->new->utf8->allow_nonref->decode($body) };
  return (@e, "body is not JSON ($@): " . substr($body, 0, 200)) if $@;
  push @e, schema_errors($media->{schema}, $data, '$') if $media->{schema};
  if (ref $data eq 'HASH' && exists $data->{request_id}) {
    my $rid = $h{'x-request-id'} // '(no X-Request-Id header)';
    push @e, "request_id '" . ($data->{request_id} // 'null') . "' differs from X-Request-Id '$rid'"
      unless defined $data->{request_id} && $data->{request_id} eq $rid;
  }
  return @e;
}

# One assertion: $r is a documented response of $method $path ($path is a
# template of openapi.json or a concrete path, see path_template).
sub response_ok {
  my ($r, $method, $path, $name) = @_;
  $name //= "$method $path answers per openapi.json";
  my @e = response_errors($r, $method, $path);
  my $template = path_template($path) // $path;
  local $Test::Builder::Level = $Test::Builder::Level + 1;
  my $ok = Test::More::ok(!@e, $name);
  unless ($ok) {
    Test::More::diag("  $method $template -> " . ($r->{status} // '?') . ": $_") for @e;
  }
  return $ok;
}

1;
