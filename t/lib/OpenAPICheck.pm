package OpenAPICheck;
# Checks API responses against openapi.json at the top of the repository (the
# document incidentd serves at /v1/openapi.json; t/11-openapi-served.t proves
# they are the same bytes) with JSON::Validator: Debian's
# libjson-validator-perl, whose JSON::Validator::Schema::OpenAPIv3 validates
# a response's headers and body against an operation.
#
#   use OpenAPICheck;
#   response_ok($r, 'POST', '/v1/tickets', 'create answers per the contract');
#   response_ok($r, 'GET', "/v1/tickets/$id");    # concrete paths map to their template
#
# $r is an HTTP::Tiny response hash (IncidentdTest's req() adds {json}; the
# body is decoded afresh from {content}). One Test::More assertion; every
# mismatch is diag()ed. JSON::Validator checks the documented headers
# (required ones present, values per their schema) and the body against the
# schema of its Content-Type. This module adds what it leaves to the caller:
# the status must be documented for the operation, or be one of
# x-global-responses (the only responses a path or method outside the
# document may get); the Content-Type must be one the response documents, and
# a response documenting none (204, 304) and any HEAD must have no body; a
# JSON body must parse; a body's request_id must equal X-Request-Id. HEAD is
# checked as the GET it stands for, without a body.
#
# Validation runs on a prepared copy of the document that means the same:
# JSON::Validator 5 follows $ref only inside schemas, so the copy inlines
# response and header objects given by $ref; x-global-responses
# become responses of every operation that lacks them, and of a pseudo path
# for requests outside the document; patterns get ECMA-262's meaning (OpenAPI
# 3.0's regex dialect: $ ends the input, \d is ASCII), which Perl's $ and \d
# do not have. Nothing is coerced: "42" is no integer in a body. A header is
# text on the wire, so a header documented as a number is compared as one.
#
# No network, ever: the OpenAPI 3.0 meta-schema comes from JSON::Validator's
# bundled cache, which in Debian links to the openapi-specification package
# (/usr/share/openapi-specification/schemas/v3.0/schema.json), and a fetch of
# anything else dies.
use strict;
use warnings;
use Exporter 'import';
use File::Basename qw(dirname);
use File::Spec;
use JSON::PP ();
use Storable ();
use JSON::Validator::Schema::OpenAPIv3;
use JSON::Validator::Store;
use Test::More ();

our @EXPORT = qw(response_ok);
our @EXPORT_OK = qw(spec spec_bytes spec_path validator validator_for document_errors
                    offline_store schema_errors response_errors resolve_ref component_schema
                    path_template);

# The pseudo path that answers for requests outside the document.
use constant OUTSIDE => 'x-openapicheck-outside';
use constant METHODS => [qw(get put post delete options head patch trace)];

# A user agent for JSON::Validator's store that refuses to fetch.
{
  package OpenAPICheck::NoNetwork;
  use Mojo::Base 'Mojo::UserAgent';
  sub get { die "OpenAPICheck: no network: refusing to fetch $_[1]\n" }
}

my ($BYTES, $SPEC, $VALIDATOR);

sub spec_path {
  return $ENV{OPENAPI_JSON}
    // File::Spec->catfile(dirname(__FILE__), File::Spec->updir, File::Spec->updir, 'openapi.json');
}

# openapi.json as bytes, exactly as on disk (loaded once).
sub spec_bytes {
  return $BYTES if defined $BYTES;
  my $file = spec_path();
  open my $fh, '<:raw', $file or die "OpenAPICheck: cannot open $file: $!\n";
  local $/;
  $BYTES = <$fh>;
  close $fh or die "OpenAPICheck: cannot read $file: $!\n";
  return $BYTES;
}

# The decoded openapi.json, as written (loaded once; do not modify).
sub spec {
  return $SPEC //= JSON::PP->new->utf8->decode(spec_bytes());
}

# A JSON::Validator store that reads only the bundled (Debian) cache.
sub offline_store {
  return JSON::Validator::Store->new(cache_paths => [JSON::Validator::Store::BUNDLED_PATH],
                                     ua => OpenAPICheck::NoNetwork->new);
}

# Everything wrong with $doc (decoded) as an OpenAPI 3.0 document, as
# "location: problem" strings: JSON::Validator against the OpenAPI 3.0 schema.
sub document_errors {
  my ($doc) = @_;
  my $schema = JSON::Validator::Schema::OpenAPIv3->new(_copy($doc), store => offline_store());
  return map {"$_"} @{ $schema->errors };
}

sub _copy { Storable::dclone($_[0]) }

# Follows a local reference "#/a/b" in $doc (default: the spec). Dies if it does not resolve.
sub resolve_ref {
  my ($ref, $doc) = @_;
  $doc //= spec();
  die "OpenAPICheck: only local references are supported: $ref\n" unless $ref =~ m{^#(/.*)?$};
  my $node = $doc;
  for my $part (grep {length} split m{/}, substr($ref, 1)) {
    $part =~ s/~1/\//g;
    $part =~ s/~0/~/g;
    die "OpenAPICheck: unresolvable reference $ref\n"
      unless ref $node eq 'HASH' && exists $node->{$part};
    $node = $node->{$part};
  }
  return $node;
}

sub _deref {
  my ($node, $doc) = @_;
  my %seen;
  while (ref $node eq 'HASH' && exists $node->{'$ref'}) {
    die "OpenAPICheck: reference loop at $node->{'$ref'}\n" if $seen{ $node->{'$ref'} }++;
    $node = resolve_ref($node->{'$ref'}, $doc);
  }
  return $node;
}

# A response object with its own $ref and those of its headers followed.
sub _inline_response {
  my ($resp, $doc) = @_;
  my %r = %{ _deref($resp, $doc) };
  $r{headers} = { map { $_ => _deref($r{headers}{$_}, $doc) } keys %{ $r{headers} } }
    if $r{headers};
  return \%r;
}

# ECMA-262 (OpenAPI 3.0's patterns) in Perl: an unescaped $ ends the input,
# \d and \w are ASCII.
sub _ecma_patterns {
  my ($node) = @_;
  if (ref $node eq 'ARRAY') { _ecma_patterns($_) for @$node; return }
  return unless ref $node eq 'HASH';
  for my $k (keys %$node) {
    if ($k eq 'pattern' && defined $node->{$k} && !ref $node->{$k}) {
      $node->{$k} = '(?a)' . ($node->{$k} =~ s/(?<!\\)\$/\\z/gr);
    } else {
      _ecma_patterns($node->{$k});
    }
  }
}

# The copy of $doc that JSON::Validator validates responses against (see the top).
sub _prepare {
  my ($doc) = @_;
  my $d = _copy($doc);
  my %global = map { $_ => _inline_response($d->{'x-global-responses'}{$_}, $d) }
    keys %{ $d->{'x-global-responses'} || {} };
  for my $path (grep { !/^x-/ } keys %{ $d->{paths} }) {
    for my $m (@{ METHODS() }) {
      my $op = $d->{paths}{$path}{$m} or next;
      my $responses = $op->{responses} ||= {};
      $responses->{$_} = _inline_response($responses->{$_}, $d) for keys %$responses;
      $responses->{$_} //= $global{$_} for keys %global;
    }
  }
  $d->{paths}{ OUTSIDE() } = { map { $_ => { responses => {%global} } } @{ METHODS() } };
  _ecma_patterns($d);
  return $d;
}

# A JSON::Validator schema object for responses of $doc (decoded), offline and
# without coercion.
sub validator_for {
  my ($doc) = @_;
  my $v = JSON::Validator::Schema::OpenAPIv3->new(_prepare($doc), store => offline_store());
  $v->coerce({});
  return $v;
}

# The validator for openapi.json (built once).
sub validator { return $VALIDATOR //= validator_for(spec()) }

# A schema of components/schemas in the validator's document (so that its
# references resolve), default: the validator of openapi.json.
sub component_schema {
  my ($name, $v) = @_;
  $v //= validator();
  return $v->data->{components}{schemas}{$name};
}

# JSON::Validator's complaints about $data against $schema, a schema object
# taken from $v's document (component_schema), as "location: problem" strings.
sub schema_errors {
  my ($schema, $data, $v) = @_;
  $v //= validator();
  return map {"$_"} $v->validate($data, $schema);
}

# The path template of the document a concrete path belongs to ("/v1/tickets/42?x=1"
# -> "/v1/tickets/{id}"); a literal segment wins over a {parameter}. A template
# given as such is returned unchanged; undef if nothing matches.
sub path_template {
  my ($path, $doc) = @_;
  my $paths = ($doc // spec())->{paths};
  $path =~ s/[?#].*//s;
  return $path if $paths->{$path} && $path !~ /^x-/;
  my @segs = split m{/}, $path, -1;
  my ($best, $best_score);
  for my $t (grep { !/^x-/ } keys %$paths) {
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

# A header's value as JSON::Validator should see it: one string, or a number
# when the header's schema says it is one.
sub _header_value {
  my ($v, $schema) = @_;
  $v = join ', ', @$v if ref $v eq 'ARRAY';
  my $type = ref $schema eq 'HASH' ? $schema->{type} // '' : '';
  return $v + 0 if $type =~ /^(integer|number)$/ && $v =~ /^-?[0-9]+(\.[0-9]+)?\z/;
  return $v;
}

# Everything wrong with $r as a response of ($method, $path) in the document
# of validator $v (default: openapi.json's); empty list if nothing.
sub response_errors {
  my ($r, $method, $path, $v) = @_;
  $v //= validator();
  my $doc = $v->data;
  my $op_method = uc $method eq 'HEAD' ? 'get' : lc $method;
  my $template = path_template($path, $doc) // $path;
  my $key = $doc->{paths}{$template} && $doc->{paths}{$template}{$op_method} ? $template : OUTSIDE;
  my $status = $r->{status} // '(none)';
  my $resp = $doc->{paths}{$key}{$op_method}{responses}{$status}
    or return "status $status is not documented for $method $template";

  my @e;
  my %h = map { lc($_) => $r->{headers}{$_} } keys %{ $r->{headers} || {} };
  my $body = $r->{content} // '';
  my $ctype = lc($h{'content-type'} // '');
  $ctype =~ s/\s*;.*//s;
  my $content = $resp->{content} || {};
  my ($data, $has_body);
  if (!%$content || uc $method eq 'HEAD') {
    push @e, 'body should be empty, got ' . length($body) . ' bytes' if length $body;
    push @e, "Content-Type '$ctype' on a response documenting no content"
      if !%$content && length $ctype;
  }
  if (%$content && length $ctype && !$content->{$ctype}) {
    return (@e, "Content-Type '$ctype' is not one of " . join(', ', sort keys %$content));
  }
  if (%$content && uc $method ne 'HEAD') {
    return (@e, "Content-Type missing; documented: " . join(', ', sort keys %$content))
      unless length $ctype;
    $has_body = 1;
    $data = $body;
    if ($ctype eq 'application/json') {
      $data = eval { JSON::PP->new->utf8->allow_nonref->decode($body) };
      return (@e, "body is not JSON ($@): " . substr($body, 0, 200)) if $@;
    }
  }

  push @e, map {"$_"} $v->validate_response([$op_method, $key, $status], {
    header => sub {
      my ($name, $param) = @_;
      my $value = $h{ lc $name };
      return { exists => defined $value,
               value => defined $value ? _header_value($value, $param->{schema}) : undef };
    },
    body => sub { return { exists => $has_body, value => $data, content_type => $ctype } },
  });

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
