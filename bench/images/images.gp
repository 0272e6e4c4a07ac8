# The images benchmark's chart: each case's two measures side by side
# (log scale).  gnuplot -e "dat='images.dat'; out='images.png'" images.gp
set terminal pngcairo size 1000,520 font ",10"
set output out
set title "uffdd images: a against b in each case (one run; ratios matter)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set ylabel "ms (fault row: us)"
set xtics rotate by -15
set key below
plot dat using 2:xtic(1) title "a (download / cold+trace / cold / 32 clients / image fault)", \
     '' using 3 title "b (lazy / warm / warm / 1 client / continue fault)"
