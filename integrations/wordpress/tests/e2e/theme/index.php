<?php
/**
 * The only template: header hooks, the loop, comments, footer hooks.
 *
 * @package SnlpE2E
 */
?><!DOCTYPE html>
<html <?php language_attributes(); ?>>
<head><meta charset="<?php bloginfo( 'charset' ); ?>"><?php wp_head(); ?></head>
<body <?php body_class(); ?>>
<main id="main">
<?php
while ( have_posts() ) :
	the_post();
	?>
	<article id="post-<?php the_ID(); ?>">
		<h1 class="entry-title"><?php the_title(); ?></h1>
		<div class="entry-content"><?php the_content(); ?></div>
	</article>
	<?php
	if ( is_singular() ) {
		comments_template( '/comments.php' );
	}
endwhile;
?>
</main>
<?php wp_footer(); ?>
</body>
</html>
