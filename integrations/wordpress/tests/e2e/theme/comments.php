<?php
/**
 * Approved comments and the comment form.
 *
 * @package SnlpE2E
 */
?>
<section id="comments">
	<ol class="comment-list"><?php wp_list_comments(); ?></ol>
	<?php comment_form(); ?>
</section>
