-- sources that fail or went silent, with their last error
select source, status, consecutive_failures, last_success_at, last_error
from source_health
where status in ('failing', 'failing since first run', 'degraded', 'silent', 'never polled')
order by consecutive_failures desc;
