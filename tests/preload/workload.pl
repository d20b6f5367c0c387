# workload.pl: the perl case of run_real.py. Hashes, regexes, string building and sort over
# generated data, printing digests that depend only on the computation (keys always sorted:
# perl randomises hash order per process). Never reads the clock, never prints addresses.
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);

# Sizes chosen so the script takes about 2 s under glibc on the 2-core CI machine.
my $WORDS      = 80_000;
my $CHURN      = 200_000;
my $TEXT_LINES = 40_000;

# A 31-bit LCG (the classic Park-Miller constants), so the data does not depend on perl's rand.
my $state = 20240519;
sub rnd {
    my ($n) = @_;
    $state = ($state * 48271) % 2147483647;
    return $state % $n;
}

my @syll = qw(ka lo mi zu ter an qu ix ob el ra su);
sub word {
    my $len = 1 + rnd(5);
    return join '', map { $syll[ rnd(scalar @syll) ] } 1 .. $len;
}

# 1. word frequencies in a hash of counts, and a hash of arrays keyed by first letter.
my ( %freq, %by_first );
for ( 1 .. $WORDS ) {
    my $w = word();
    $freq{$w}++;
    push @{ $by_first{ substr( $w, 0, 1 ) } }, $w;
}
my @top = ( sort { $freq{$b} <=> $freq{$a} || $a cmp $b } keys %freq )[ 0 .. 9 ];
printf "freq: %d %s %s\n", scalar( keys %freq ), join( ',', @top ),
  md5_hex( join ',', map { "$_=" . scalar @{ $by_first{$_} } } sort keys %by_first );

# 2. hash churn: insert, delete, nested hashes, exists.
my %table;
my $deleted = 0;
for my $i ( 1 .. $CHURN ) {
    my $k = 'key' . rnd(60_000);
    if ( rnd(10) < 6 ) {
        $table{$k}{ $i % 7 } = [ $i, $k x ( $i % 3 ) ];
    }
    elsif ( exists $table{$k} ) {
        delete $table{$k};
        $deleted++;
    }
}
my $sum = 0;
for my $k ( sort keys %table ) {
    $sum += $_->[0] for values %{ $table{$k} };
}
printf "churn: %d %d %d\n", scalar( keys %table ), $deleted, $sum;

# 3. regexes over generated text: captures, global matches, substitutions, split.
my @lines;
for my $i ( 1 .. $TEXT_LINES ) {
    push @lines, sprintf( "%05d %s-%s user%d\@host%d.example %s", $i, word(), word(), $i % 97,
        $i % 13, word() x ( 1 + rnd(4) ) );
}
my $text = join "\n", @lines;
my @emails = $text =~ /\b(user\d+)\@(host\d+)\.example\b/g;
( my $swapped = $text ) =~ s/(\w+)-(\w+)/\U$2\E+$1/g;
my $splits = 0;
$splits += scalar split /[\s\@.-]+/, $_ for @lines[ grep { $_ % 5 == 0 } 0 .. $#lines ];
my $tr = ( $text =~ tr/a-z// );
printf "re: %d %d %d %d %s\n", scalar(@emails), length($swapped), $splits, $tr,
  md5_hex($swapped);

# 4. string building: append, join, sprintf, reverse, repeated growth.
my $buf = '';
for my $i ( 1 .. 60_000 ) {
    $buf .= sprintf( "%x:%s;", $i * 7919, $syll[ $i % @syll ] );
    $buf = reverse($buf) if $i % 20_000 == 0;
}
my @chunks = unpack( '(A64)*', $buf );
printf "str: %d %d %s\n", length($buf), scalar(@chunks), md5_hex( join '|', reverse @chunks );

# 5. sorts: numeric, string, Schwartzian transform, stable multi-key.
my @nums   = map { rnd(1_000_000) - 500_000 } 1 .. 80_000;
my @sorted = sort { $a <=> $b } @nums;
my @strs   = map { word() . $_ } 1 .. 40_000;
my @by_len = map { $_->[1] } sort { $a->[0] <=> $b->[0] or $a->[1] cmp $b->[1] }
  map { [ length, $_ ] } @strs;
printf "sort: %d %d %s %s %s\n", $sorted[0], $sorted[-1], $by_len[0], $by_len[-1],
  md5_hex( join ',', @sorted[ grep { $_ % 1000 == 0 } 0 .. $#sorted ], @by_len[ 0 .. 99 ] );
print "done\n";
