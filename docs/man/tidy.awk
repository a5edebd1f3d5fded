# tidy.awk: drops the paragraph macros scdoc emits where they do nothing (after a heading, before
# another heading or block end, twice in a row), which mandoc -Tlint and man --warnings report.
function flush_pending(next_line) {
    if (pending && next_line !~ /^\.(SH|SS|RE|P|PP|TH)( |$)/ && !after_head)
        print ".P"
    pending = 0
}
{
    if ($0 ~ /^\.(P|PP)$/) {
        pending = 1
        next
    }
    flush_pending($0)
    print
    after_head = ($0 ~ /^\.(SH|SS|TH|RS)( |$)/)
}
END { }
